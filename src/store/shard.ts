/**
 * Shards: a deterministic split of targets by path, for CI matrices and Kubernetes Indexed Jobs. `--shard i/n`
 * (1-based), or `--shard-count N` with `--shard-index I` (0-based, as GitHub's `strategy.job-index` and
 * Kubernetes' `JOB_COMPLETION_INDEX` count), the index taken from `JOB_COMPLETION_INDEX` when not given.
 */
import { nodeCrypto } from '../lazy.js';
import { UsageError } from '../errors.js';

export interface Shard {
  index: number; // 1-based
  count: number;
}

export function parseShard(s: string): Shard {
  const m = /^(\d+)\/(\d+)$/.exec(s.trim());
  if (!m) throw new UsageError(`--shard takes i/n (for example 1/4), not '${s}'`);
  const index = Number(m[1]);
  const count = Number(m[2]);
  if (count < 1 || index < 1 || index > count) throw new UsageError(`--shard ${s}: i must be between 1 and n`);
  return { index, count };
}

export interface ShardFlags {
  shard?: string;
  shardCount?: string | number;
  shardIndex?: string | number;
}

function wholeNumber(v: string | number, what: string, min: number): number {
  const text = String(v).trim();
  const n = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(n) || n < min) throw new UsageError(`${what} takes a whole number >= ${min}, not '${text}'`);
  return n;
}

/** This run's shard from the flags and the environment, or null when the run audits every target. */
export function shardFrom(flags: ShardFlags, env: NodeJS.ProcessEnv = process.env): Shard | null {
  if (flags.shard !== undefined) {
    if (flags.shardCount !== undefined || flags.shardIndex !== undefined) {
      throw new UsageError('--shard i/n and --shard-count/--shard-index say the same thing: give one of them');
    }
    return parseShard(flags.shard);
  }
  if (flags.shardCount === undefined) {
    if (flags.shardIndex !== undefined) throw new UsageError('--shard-index needs --shard-count N');
    return null;
  }
  const count = wholeNumber(flags.shardCount, '--shard-count', 1);
  const fromEnv = flags.shardIndex === undefined;
  const raw = fromEnv ? env.JOB_COMPLETION_INDEX : flags.shardIndex;
  if (raw === undefined || raw === '') {
    throw new UsageError('--shard-count needs the shard index: --shard-index I (0-based) or JOB_COMPLETION_INDEX in the environment');
  }
  const index = wholeNumber(raw, fromEnv ? 'JOB_COMPLETION_INDEX' : '--shard-index', 0);
  if (index >= count) {
    throw new UsageError(`${fromEnv ? 'JOB_COMPLETION_INDEX' : '--shard-index'} ${index} is not below --shard-count ${count} (it counts from 0)`);
  }
  return { index: index + 1, count };
}

/** Which shard (1-based) a target belongs to: a hash of its path, so the split never depends on order. */
export function shardOf(target: string, count: number): number {
  const h = nodeCrypto().createHash('sha256').update(target).digest();
  return (h.readUInt32BE(0) % count) + 1;
}

export function inShard(target: string, shard: Shard | null): boolean {
  return !shard || shardOf(target, shard.count) === shard.index;
}
