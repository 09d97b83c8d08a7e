import { createDeadline } from '../../src/image/deadline.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('a target deadline', () => {
  it('does not count time spent queued for a shared resource (an appliance slot)', async () => {
    const d = createDeadline(0.2);
    const at = d.at;
    // Queued until the clock says 400 ms have passed since paused() began (it notes its start synchronously): a
    // timer alone may fire a millisecond short of its delay by Date.now().
    let release!: () => void;
    const queued = d.paused(new Promise<void>((r) => (release = r)));
    const began = Date.now();
    while (Date.now() < began + 400) await sleep(began + 400 - Date.now());
    release();
    await queued;
    // Past the original deadline in wall time, but the queue time was given back.
    expect(d.signal.aborted).toBe(false);
    expect(() => d.check()).not.toThrow();
    expect(d.at).toBeGreaterThanOrEqual(at + 400);
    await new Promise<void>((resolve) => d.signal.addEventListener('abort', () => resolve()));
    expect(() => d.check()).toThrow(/timed out after 0.2 s/);
    d.dispose();
  });

  it('still expires while the target works', async () => {
    const d = createDeadline(0.05);
    await sleep(120);
    expect(d.signal.aborted).toBe(true);
    expect(d.signal.reason).toMatchObject({ message: 'timed out after 0.05 s (see --timeout)' });
    d.dispose();
  });
});
