/** The budget of one target (src/budget.ts), made from its deadline and the command line. */
import { memoryBudget, TargetBudget } from '../budget.js';
import type { Deadline } from './deadline.js';
import { defaultWriteLimit, tmpBase } from './tmp.js';

export interface BudgetOptions {
  deadline?: Deadline;
  /** --max-decompressed; default 80% of the temp filesystem's free space when the target starts. */
  maxWrite?: number;
  maxMemory?: number;
}

export function createBudget(opts: BudgetOptions = {}): TargetBudget {
  return new TargetBudget(opts.deadline, opts.maxWrite ?? defaultWriteLimit(tmpBase()), opts.maxMemory ?? memoryBudget());
}
