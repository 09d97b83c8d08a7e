import { formatJson, jsonHead, JsonStream, jsonTarget } from '../../src/reporters/json.js';
import type { Report, TargetResult } from '../../src/types.js';

const tool = { name: 'hostleak', version: '9.9.9' };
function target(name: string, findings: number): TargetResult {
  return {
    target: name,
    status: 'ok',
    error: null,
    backend: 'native',
    durationMs: 1,
    filesystems: [{ device: '/dev/sda1', type: 'ext4', label: 'nixos', mountpoint: '/' }],
    findings: Array.from({ length: findings }, (_, i) => ({
      ruleId: 'shell-history',
      severity: 'warning' as const,
      path: `/home/u${i}/.bash_history`,
      filesystem: '/dev/sda1',
      message: `line one\nline "two" \\ ${name}`,
      evidence: null,
      fingerprint: `f${i}`,
    })),
  } as unknown as TargetResult;
}

describe('the JSON report in pieces', () => {
  it.each([0, 1, 3])('is JSON.stringify(report, null, 2) byte for byte (%i targets)', (n) => {
    const report: Report = { version: 1, tool, targets: Array.from({ length: n }, (_, i) => target(`img-${i}.raw`, i)) };
    expect(formatJson(report)).toBe(JSON.stringify(report, null, 2) + '\n');
  });

  it('streams targets finishing in any order in report order, each as soon as those before it are written', async () => {
    const targets = [target('a.raw', 2), target('b.qcow2', 0), target('c.raw.zst', 1), target('d.vhd', 3)];
    const writes: string[] = [];
    const stream = new JsonStream(tool, (s) => void writes.push(s));
    await stream.add(targets[2]!, 2);
    await stream.add(targets[1]!, 1);
    expect(writes).toEqual([]); // nothing before the first target is ready
    await stream.add(targets[0]!, 0);
    const upTo = (n: number) => jsonHead(tool) + targets.slice(0, n).map(jsonTarget).join('');
    expect(writes.join('')).toBe(upTo(3)); // a, b and c at once
    await stream.add(targets[3]!, 3);
    expect(writes.join('')).toBe(upTo(4));
    await stream.end();
    expect(writes.join('')).toBe(formatJson({ version: 1, tool, targets }));
  });

  it('keeps report order when targets finish together and the sink is slow and asynchronous', async () => {
    const targets = Array.from({ length: 8 }, (_, i) => target(`img-${i}.raw`, i % 3));
    const writes: string[] = [];
    // A sink whose writes take different times: a write issued later could land first if writes were not chained.
    const sink = async (s: string) => {
      await new Promise((r) => setTimeout(r, (s.length * 7) % 5));
      writes.push(s);
    };
    const stream = new JsonStream(tool, sink);
    await Promise.all([3, 0, 1, 6, 2, 7, 5, 4].map((i) => stream.add(targets[i]!, i)));
    await stream.end();
    expect(writes.join('')).toBe(formatJson({ version: 1, tool, targets }));
  });

  it('an empty stream is an empty report; a target never added is an error, not a short report', async () => {
    const writes: string[] = [];
    await new JsonStream(tool, (s) => void writes.push(s)).end();
    expect(writes.join('')).toBe(formatJson({ version: 1, tool, targets: [] }));
    const gap = new JsonStream(tool, () => undefined);
    await gap.add(target('b', 0), 1);
    await expect(gap.end()).rejects.toThrow(/never written/);
  });
});
