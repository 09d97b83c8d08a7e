/**
 * The stable, versioned JSON report (see docs: "JSON report").
 *
 * Written in pieces so `scan --format json` can stream it: the head, each target as it is ready (in report order),
 * the tail. The pieces joined are byte for byte `JSON.stringify(report, null, 2)` plus a newline, so a streamed
 * report and a rendered one are the same file.
 */
import type { Report, RunInfo, TargetResult } from '../types.js';

/** Everything before the first target: the version, the tool and the run (when known). */
export function jsonHead(tool: Report['tool'], run?: RunInfo): string {
  const field = (name: string, v: unknown) => `\n  "${name}": ${JSON.stringify(v, null, 2).replace(/\n/g, '\n  ')},`;
  return `{\n  "version": 1,${field('tool', tool)}${run ? field('run', run) : ''}\n  "targets": [`;
}

const WRAP_HEAD = '{\n  "t": [\n    ';
const WRAP_TAIL = '\n  ]\n}';

/**
 * One target, as the element at `index` of the targets array. Stringified inside a wrapper that puts it at the
 * array's depth and sliced out (V8 slices without copying): a target with 100,000 findings is one string, not two.
 */
export function jsonTarget(t: TargetResult, index: number): string {
  const wrapped = JSON.stringify({ t: [t] }, null, 2);
  return `${index === 0 ? '' : ','}\n    ` + wrapped.slice(WRAP_HEAD.length, wrapped.length - WRAP_TAIL.length);
}

/** Everything after the last of `count` targets. */
export function jsonTail(count: number): string {
  return count === 0 ? ']\n}\n' : '\n  ]\n}\n';
}

export function formatJson(report: Report): string {
  return jsonHead(report.tool, report.run) + report.targets.map(jsonTarget).join('') + jsonTail(report.targets.length);
}

/**
 * Targets finishing in any order, written in report order: a target is held only until every one before it was
 * written, so memory holds the targets still out of order, not the whole report.
 */
export class JsonStream {
  private next = 0;
  private readonly waiting = new Map<number, TargetResult>();
  private chain: Promise<void> = Promise.resolve();
  /** The run's facts, written in the head: set before the first target is added. */
  run: RunInfo | undefined;

  constructor(
    private readonly tool: Report['tool'],
    private readonly write: (s: string) => void | Promise<void>,
  ) {}

  async add(t: TargetResult, index: number): Promise<void> {
    this.waiting.set(index, t);
    // What is ready is taken at once (no await in between), so two adds never both write the same next target; the
    // writes themselves are chained, so they reach the sink in order even when it is asynchronous.
    const ready: Array<[TargetResult, number]> = [];
    for (let w = this.waiting.get(this.next); w; w = this.waiting.get(this.next)) {
      this.waiting.delete(this.next);
      ready.push([w, this.next++]);
    }
    if (ready.length === 0) return this.chain;
    // Each piece written on its own: joining them would copy a large target's text once more.
    return (this.chain = this.chain.then(async () => {
      for (const [w, i] of ready) {
        if (i === 0) await this.write(jsonHead(this.tool, this.run));
        await this.write(jsonTarget(w, i));
      }
    }));
  }

  /** The tail, once every target was added. */
  async end(): Promise<void> {
    if (this.waiting.size > 0) throw new Error(`json stream: ${this.waiting.size} target(s) never written`);
    await this.chain;
    await this.write((this.next === 0 ? jsonHead(this.tool, this.run) : '') + jsonTail(this.next));
  }
}
