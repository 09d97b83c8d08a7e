/**
 * Which of several groups of literals a text holds, for prefilters: secrets.ts skips a token kind's regex on a text
 * that holds none of the kind's hints. Not part of the rule kit's exports (kit/index.ts): its use is the kit's own.
 */

/**
 * Characters searched one literal at a time (includes(), native code from the first call) before the automaton takes
 * over. The automaton is 3-4x faster once V8 has compiled its loop, but its first ~100k characters run in the
 * interpreter and its table is built first: ~9 ms, which a scan of a small image (a few short texts, every evidence
 * line redacted) would pay for nothing, and which a large one earns back within a few megabytes.
 */
export const AUTOMATON_AFTER = 2_000_000;

interface Automaton {
  /** Next state: `delta[state * 128 + char]`. */
  delta: Int32Array;
  /** The groups (bits) with a literal that ends in the state. */
  found: Int32Array;
}

export class LiteralGroups {
  /** The groups without literals (null): always in. */
  private readonly always: number;
  private automaton: Automaton | undefined;
  private searched = 0;

  /** `groups[k]`: the literals of group k (bit k of the answers; at most 31 groups, ASCII literals); null: always in. */
  constructor(readonly groups: ReadonlyArray<readonly string[] | null>) {
    if (groups.length > 31) throw new Error('literal groups: more groups than bits');
    let always = 0;
    groups.forEach((g, k) => {
      if (g === null) always |= 1 << k;
      for (const lit of g ?? []) if (!/^[\x00-\x7f]+$/.test(lit)) throw new Error(`literal groups: ${lit} is not ASCII`);
    });
    this.always = always;
  }

  /** The groups (bits) with a literal in `text`, and those without literals. */
  in(text: string): number {
    if (!this.automaton && this.searched < AUTOMATON_AFTER) {
      this.searched += text.length;
      let bits = this.always;
      for (let k = 0; k < this.groups.length; k++) if (this.groups[k]?.some((l) => text.includes(l))) bits |= 1 << k;
      return bits;
    }
    return this.byAutomaton(text);
  }

  /** `in`'s answer by one pass of the automaton (what `in` does after AUTOMATON_AFTER characters). */
  byAutomaton(text: string): number {
    const { delta, found } = (this.automaton ??= this.build());
    let bits = this.always;
    let s = 0;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      // No literal holds a character beyond ASCII: one starts the search over.
      s = c < 128 ? delta[(s << 7) | c]! : 0;
      bits |= found[s]!;
    }
    return bits;
  }

  /**
   * Aho-Corasick as a transition table over ASCII. Typed arrays only: it is built in a process that has not compiled
   * it yet. The trie of the literals is made in the table itself (row s: state s's edges; 0: none, as no edge leads to
   * the root), then completed breadth first, in place: a state's failure state (the longest proper suffix that is a
   * prefix of a literal) is shallower, so its row is complete when the state's row is read: a missing edge becomes
   * the failure state's move, and the state finds what its failure state finds.
   */
  private build(): Automaton {
    let room = 1;
    for (const g of this.groups) for (const lit of g ?? []) room += lit.length;
    const delta = new Int32Array(room * 128);
    const found = new Int32Array(room);
    let states = 1;
    this.groups.forEach((g, k) => {
      for (const lit of g ?? []) {
        let s = 0;
        for (let i = 0; i < lit.length; i++) {
          const at = s * 128 + lit.charCodeAt(i);
          if (delta[at] === 0) delta[at] = states++;
          s = delta[at]!;
        }
        found[s]! |= 1 << k;
      }
    });
    const fail = new Int32Array(states);
    const queue = new Int32Array(states);
    let tail = 0;
    for (let c = 0; c < 128; c++) if (delta[c] !== 0) queue[tail++] = delta[c]!;
    for (let head = 0; head < tail; head++) {
      const s = queue[head]!;
      const f = fail[s]!;
      found[s]! |= found[f]!;
      for (let c = 0; c < 128; c++) {
        const t = delta[s * 128 + c]!;
        if (t === 0) delta[s * 128 + c] = delta[f * 128 + c]!;
        else {
          fail[t] = delta[f * 128 + c]!;
          queue[tail++] = t;
        }
      }
    }
    return { delta: delta.subarray(0, states * 128), found: found.subarray(0, states) };
  }
}
