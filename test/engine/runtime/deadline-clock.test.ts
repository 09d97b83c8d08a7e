/**
 * The target's deadline is read by the clock where the rules phase spends its time: the one read chokepoint
 * (ImageFs), the shared entry pass and the content pass. A deadline that says "time is up" after a set number of
 * checks stands in for the clock, so nothing here depends on timing.
 */
import { TargetBudget, withBudget } from '../../../src/budget.js';
import { forEachEntry } from '../../../src/engine/kit/entries.js';
import { TimeoutError } from '../../../src/errors.js';
import { createImageFs } from '../../../src/engine/runtime/imagefs.js';
import { runRules } from '../../../src/engine/runtime/runner.js';
import { builtinRules } from '../../../rules/index.js';
import { memoryRoot } from '../../helpers/tree.js';

/** A deadline that passes at its `after`-th check. */
function deadlineAfter(after: number) {
  let checks = 0;
  return {
    get checks() {
      return checks;
    },
    check() {
      if (++checks >= after) throw new TimeoutError('timed out after 1 s (see --timeout)');
    },
  };
}

function budgetOf(deadline: { check(): void }): TargetBudget {
  return new TargetBudget(deadline, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
}

function bigRoot(files: number) {
  const entries = [];
  for (let i = 0; i < files; i++) entries.push({ path: `/srv/f${i}.env`, content: `TOKEN=${i}\n` });
  return memoryRoot(entries);
}

describe('the deadline in the rules phase', () => {
  it('no batch reaches the backend once the time is up; each waiting read gets the TimeoutError', async () => {
    const root = bigRoot(3);
    let backendCalls = 0;
    const readFiles = root.readFiles.bind(root);
    root.readFiles = (paths, max) => {
      backendCalls++;
      return readFiles(paths, max);
    };
    const fs = createImageFs(root);
    const reads = withBudget(budgetOf(deadlineAfter(1)), async () =>
      Promise.allSettled(['/srv/f0.env', '/srv/f1.env'].map((p) => fs.readFile(p))),
    );
    const settled = await reads;
    expect(settled.map((s) => s.status)).toEqual(['rejected', 'rejected']);
    expect((settled[0] as PromiseRejectedResult).reason).toBeInstanceOf(TimeoutError);
    expect(backendCalls).toBe(0);
    // Without a budget (or in time) the same reads go through.
    expect((await fs.readText('/srv/f0.env'))?.trim()).toBe('TOKEN=0');
  });

  it('the shared entry pass stops by the clock and rejects every subscriber, nothing uncaught', async () => {
    const { inventory } = bigRoot(5000);
    const deadline = deadlineAfter(2);
    let visited = 0;
    const passes = withBudget(budgetOf(deadline), async () =>
      Promise.allSettled([forEachEntry(inventory, '/', () => visited++), forEachEntry(inventory, '/srv', () => {})]),
    );
    const settled = await passes;
    expect(settled.map((s) => s.status)).toEqual(['rejected', 'rejected']);
    expect((settled[0] as PromiseRejectedResult).reason).toBeInstanceOf(TimeoutError);
    // Stopped at the second check (every 1,024 entries), not after the whole inventory.
    expect(visited).toBeLessThan(2100);
    expect(deadline.checks).toBe(2);
  });

  it('an audit whose time runs out during the rules ends with the TimeoutError, not with fewer findings', async () => {
    const root = bigRoot(3000);
    const rules = builtinRules.map((rule) => ({ rule, severity: rule.meta.severity, options: {} }));
    const host = { user: 'builder', home: '/home/builder', name: 'buildhost' };
    // In time, the same audit runs to the end.
    await expect(withBudget(budgetOf(deadlineAfter(Infinity)), () => runRules(root, rules, host))).resolves.toHaveProperty('findings');
    await expect(withBudget(budgetOf(deadlineAfter(3)), () => runRules(root, rules, host))).rejects.toBeInstanceOf(TimeoutError);
  });
});
