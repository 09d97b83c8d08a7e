/** Bounded concurrency with an extra cap for heavy work (guestfs appliances). */
import os from 'node:os';

export class Semaphore {
  private waiting: Array<() => void> = [];
  private free: number;

  constructor(size: number) {
    this.free = Math.max(1, size);
  }

  async acquire(): Promise<() => void> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      if (next) next();
      else this.free++;
    };
  }
}

/** About 1.5 GiB per appliance (qemu + its page cache) keeps a machine from swapping. */
const APPLIANCE_BYTES = 1.5 * 1024 ** 3;

export function defaultJobs(
  cpus = Math.max(1, os.availableParallelism?.() ?? os.cpus().length),
  totalMem = os.totalmem(),
): { jobs: number; appliances: number } {
  const byMemory = Math.max(1, Math.floor(totalMem / 2 / APPLIANCE_BYTES));
  return { jobs: Math.min(cpus * 2, 16), appliances: Math.max(1, Math.min(cpus, byMemory)) };
}

/** Run fn over items with at most `jobs` at once; results keep the input order. */
export async function mapPool<T, R>(items: T[], jobs: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(Math.max(1, jobs), items.length) }, worker));
  return out;
}
