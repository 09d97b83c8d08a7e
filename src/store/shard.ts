/** `--shard i/n`: a deterministic split of targets by path, for CI matrices and Kubernetes Indexed Jobs. */
import { createHash } from 'node:crypto';
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

/** Which shard (1-based) a target belongs to: a hash of its path, so the split never depends on order. */
export function shardOf(target: string, count: number): number {
  const h = createHash('sha256').update(target).digest();
  return (h.readUInt32BE(0) % count) + 1;
}

export function inShard(target: string, shard: Shard | null): boolean {
  return !shard || shardOf(target, shard.count) === shard.index;
}
