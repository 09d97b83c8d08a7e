/**
 * findTokens skips a kind's regex when the text holds none of the kind's hint literals (found per literal at first,
 * by one automaton pass per text once AUTOMATON_AFTER characters were searched: src/engine/kit/literal-groups.ts). A skip must never lose a token: on texts
 * built from every kind's tokens, their hints, near misses and non-ASCII characters, findTokens finds what every
 * kind's regex finds run on the whole text, and the automaton finds exactly the kinds whose hints the text holds.
 */
import fc from 'fast-check';
import { isExampleSecret } from '../../../src/engine/kit/example-secrets.js';
import { AUTOMATON_AFTER, LiteralGroups } from '../../../src/engine/kit/literal-groups.js';
import { findTokens, TOKEN_HINTS, TOKEN_KINDS } from '../../../src/engine/kit/secrets.js';

/** Every kind's regex over the whole text; the JWK's only where the text names a key type (its hint, not in the match). */
function everyRegex(text: string): Array<[string, string, number]> {
  const hits: Array<[string, string, number]> = [];
  for (const kind of TOKEN_KINDS) {
    if (kind.id === 'jwk-private-key' && !text.includes('"kty"')) continue;
    const re = new RegExp(kind.re.source, kind.re.flags);
    for (const m of text.matchAll(re)) {
      const value = m[1] ?? m[0];
      if (!isExampleSecret(value)) hits.push([kind.id, value, m.index + m[0].indexOf(value)]);
    }
  }
  return hits.sort((a, b) => a[2] - b[2]);
}

const found = (text: string) => findTokens(text).map((h): [string, string, number] => [h.kind.id, h.value, h.index]);

const alnum = (n: number) => fc.stringMatching(new RegExp(`^[A-Za-z0-9]{${n}}$`));
const upper = (n: number) => fc.stringMatching(new RegExp(`^[A-Z0-9]{${n}}$`));
const hex = (n: number) => fc.stringMatching(new RegExp(`^[0-9a-f]{${n}}$`));
const word = (n: number) => fc.stringMatching(new RegExp(`^[A-Za-z0-9_-]{${n}}$`));

/** One token of every kind, in the shapes the regexes take. */
const token = fc.oneof(
  fc.tuple(fc.constantFrom('AKIA', 'ASIA', 'ABIA', 'ACCA'), upper(16)).map(([p, b]) => p + b),
  fc.tuple(fc.constantFrom('aws_secret_access_key', 'AWS_SECRET_KEY', 'Aws_Secret_Access_Key', 'aWsSeCrEtKeY'), alnum(40)).map(([k, v]) => `${k} = "${v}"`),
  fc.tuple(fc.constantFrom('ghp_', 'gho_', 'ghu_', 'ghs_', 'ghr_'), alnum(36)).map(([p, b]) => p + b),
  fc.stringMatching(/^[A-Za-z0-9_]{82}$/).map((b) => `github_pat_${b}`),
  fc.tuple(fc.constantFrom('glpat-', 'gldt-', 'glrt-', 'glcbt-', 'glptt-', 'glft-', 'glimt-', 'glagent-', 'gloas-'), word(20)).map(([p, b]) => p + b),
  fc.tuple(fc.constantFrom('xoxb-', 'xoxp-', 'xoxa-'), alnum(12)).map(([p, b]) => `${p}1234567890-${b}`),
  fc.tuple(upper(8), upper(8), alnum(24)).map(([t, b, s]) => `https://hooks.slack.com/services/T${t}/B${b}/${s}`),
  alnum(36).map((b) => `npm_${b}`),
  word(35).map((b) => `AIza${b}`),
  fc.tuple(fc.constantFrom('sk_live_', 'rk_live_'), alnum(24)).map(([p, b]) => p + b),
  fc.tuple(word(22), word(43)).map(([a, b]) => `SG.${a}.${b}`),
  fc.tuple(fc.constantFrom('dckr_pat_', 'dckr_oat_'), word(27)).map(([p, b]) => p + b),
  word(50).map((b) => `pypi-AgEIcHlwaS5vcmc${b}`),
  alnum(34).map((b) => `hf_${b}`),
  fc.oneof(alnum(48).map((b) => `sk-${b}`), word(40).map((b) => `sk-proj-${b}`)),
  hex(48).map((b) => `rubygems_${b}`),
  fc.tuple(fc.constantFrom('hvs.', 'hvb.', 'hvr.'), word(24)).map(([p, b]) => p + b),
  fc.tuple(alnum(14), word(60)).map(([a, b]) => `${a}.atlasv1.${b}`),
  fc.tuple(fc.boolean(), word(22)).map(([kty, d]) => `{${kty ? '"kty": "RSA", ' : ''}"d": "${d}"}`),
  alnum(32).map((b) => `cio${b}`),
);

/** Hints and pieces of them, characters that end a token, characters beyond ASCII. */
const noise = fc.oneof(
  fc.constantFrom('gh', 'gl', 'ghp', 'glpat', 'AKI', 'aws', 'AwS', 'xo', 'hooks.slack', 'sk', 'hv', 'SG', '.atlas', 'cio', '"kty"', 'pypi-'),
  fc.constantFrom(' ', '\n', '_', '-', '.', '/', '"', '=', 'é', '\u00ff', '\u0100', '€', '😀', '\u0000', '\u007f'),
  fc.string({ maxLength: 8 }),
);

const texts = fc.array(fc.oneof({ arbitrary: token, weight: 1 }, { arbitrary: noise, weight: 4 }), { maxLength: 24 }).map((parts) => parts.join(''));

/** The groups with a literal in `text` (every group without literals): what LiteralGroups must say, by definition. */
function groupsByDefinition(groups: ReadonlyArray<readonly string[] | null>, text: string): number {
  let bits = 0;
  groups.forEach((g, k) => {
    if (!g || g.some((l) => text.includes(l))) bits |= 1 << k;
  });
  return bits;
}

const hintGroups = TOKEN_KINDS.map((k) => TOKEN_HINTS.get(k.id) ?? null);

/** Long texts: `text` between copies of other generated texts (findTokens goes over to the automaton on them). */
const longTexts = fc.tuple(texts, texts, texts).map(([before, text, after]) => {
  let pad = `${before}\n`;
  while (pad.length < 16 * 1024) pad += pad;
  return pad + text + after;
});

describe('findTokens: hints skip work, never a token', () => {
  // First, before the automaton exists: until AUTOMATON_AFTER characters were searched, hints are found per literal.
  it('finds what every regex finds on the whole text', () => {
    fc.assert(fc.property(texts, (text) => {
      expect(found(text)).toEqual(everyRegex(text));
    }), { numRuns: 3000, seed: 25 });
  });

  it('finds every kind, each on its own and after characters beyond ASCII', () => {
    const kinds = new Set<string>();
    fc.assert(fc.property(token, fc.constantFrom('', 'é', '€ ', '😀'), (t, before) => {
      const hits = found(`${before}${t}`);
      expect(hits).toEqual(everyRegex(`${before}${t}`));
      for (const [id] of hits) kinds.add(id);
    }), { numRuns: 2000, seed: 25 });
    // Every kind was found at least once: the generator above reaches them all.
    expect([...kinds].sort()).toEqual(TOKEN_KINDS.map((k) => k.id).sort());
  });

  it('the automaton finds exactly the kinds whose hints a text holds', () => {
    const groups = new LiteralGroups(hintGroups);
    fc.assert(fc.property(fc.oneof(texts, longTexts), (text) => {
      expect(groups.byAutomaton(text)).toBe(groupsByDefinition(hintGroups, text));
    }), { numRuns: 3000, seed: 25 });
  });

  it('finds what every regex finds once the automaton took over', () => {
    // More than AUTOMATON_AFTER characters searched by then in this process: the later texts go through the automaton.
    expect(150 * 16 * 1024).toBeGreaterThan(AUTOMATON_AFTER);
    fc.assert(fc.property(longTexts, (text) => {
      expect(found(text)).toEqual(everyRegex(text));
    }), { numRuns: 150, seed: 25 });
  });
});

describe('LiteralGroups: the automaton on literals that overlap', () => {
  // Literals inside others, suffixes that begin others, a group of one character, one without literals: what a
  // failure link must carry (the token hints have none of these).
  const groups = [['abab'], ['bab', 'ba'], ['b'], ['abc', 'cab'], null, ['aaa'], ['ca']];
  const overlapping = new LiteralGroups(groups);
  it('says what includes() says of every literal', () => {
    fc.assert(fc.property(fc.stringMatching(/^[abcé]{0,40}$/), (text) => {
      expect(overlapping.byAutomaton(text)).toBe(groupsByDefinition(groups, text));
      expect(overlapping.in(text)).toBe(groupsByDefinition(groups, text));
    }), { numRuns: 5000, seed: 25 });
  });
  it('refuses literals beyond ASCII and more groups than bits', () => {
    expect(() => new LiteralGroups([['é']])).toThrow(/not ASCII/);
    expect(() => new LiteralGroups(Array.from({ length: 32 }, () => ['a']))).toThrow(/more groups than bits/);
  });
});
