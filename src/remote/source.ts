/**
 * A disk image behind HTTP(S) as the native readers' random-access ByteSource, read with range requests.
 *
 * The readers read synchronously, so the requests are made on a worker thread (src/remote/fetch-worker.ts) while the
 * reading thread waits on a shared flag, bounded by the target's deadline. Reads go through a bounded block cache
 * (BLOCK-sized aligned blocks, least recently used out, at most CACHE_BYTES); the blocks one read misses are asked
 * for at once, runs of adjacent blocks as one request of at most PIECE bytes, the requests in parallel up to the
 * client's limit. Every answer's ETag/Last-Modified (and size) is compared with the ones the image was opened with:
 * a file that changes mid-audit ends the audit with the reason (a SourceLostError), and so does a request that keeps
 * failing after its retries. Once lost, every later read throws the same error: no reader can carry on past it.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { MessagePort, Worker } from 'node:worker_threads';
import { BudgetError, SourceLostError, TimeoutError } from '../errors.js';
import { PACKAGE_ROOT } from '../paths.js';
import { recordReadFailure } from '../image/read-failures.js';
import { remoteReadLog, type ReadLog } from '../image/readlog.js';
import { checkRange, readFresh, type ByteSource } from '../backends/native/source.js';
import type { Validator } from './http.js';
import type { WorkerAnswer, WorkerInit, WorkerRequest } from './fetch-worker.js';
import { workerThreads } from '../lazy.js';

/** Block of the cache and smallest request. */
export const BLOCK = 64 * 1024;
/** Most bytes the cache keeps. */
const CACHE_BYTES = 64 * 1024 * 1024;
/** Largest single range request (a longer run of missing blocks is split, the pieces fetched in parallel). */
const PIECE = 1024 * 1024;

export interface RemoteSourceOptions {
  url: string;
  size: number;
  validator: Validator;
  /** Bytes already read from the start of the file (the sniffed head): they seed the cache. */
  head?: Buffer;
  /** The target's deadline: the wait for an answer ends there. */
  deadline?: { readonly at: number; check(): void };
  /** Requests in flight at once (default 4). */
  concurrency?: number;
  /** Idle timeout per request in ms (default 30 s). */
  timeoutMs?: number;
  attempts?: number;
}

/**
 * The request thread's module: found from the package root, not next to this module, which may be a chunk of the
 * bundled CLI (dist/src/bin/chunks/) or a TypeScript source under test.
 */
function workerFile(): string {
  return pathToFileURL(path.join(PACKAGE_ROOT, 'dist', 'src', 'remote', 'fetch-worker.js')).href;
}

/**
 * The request thread starts by importing its module from this bootstrap, so that a module that cannot load (a
 * damaged install) answers at once with why, on the channel the reading thread blocks on; a plain Worker's 'error'
 * event would never reach a thread that waits in Atomics.wait, and the read would hang to its deadline.
 */
const BOOT = `
const { workerData } = require('node:worker_threads');
import(process.argv[process.argv.length - 1]).catch((err) => {
  const why = String((err && err.message) || err).split('\\n')[0];
  workerData.port.postMessage({ id: -1, parts: [], bytes: 0, requests: 0, error: 'the request thread did not start: ' + why });
  const flag = new Int32Array(workerData.flag);
  Atomics.add(flag, 0, 1);
  Atomics.notify(flag, 0);
});
`;

export class RemoteSource implements ByteSource {
  readonly size: number;
  /** Body bytes received from the server so far, and requests made (retries and redirects included). */
  bytes = 0;
  requests = 0;
  private readonly blocks = new Map<number, Buffer>();
  private lost: BudgetError | null = null;
  private readonly worker: Worker;
  private readonly port: MessagePort;
  private readonly flag: Int32Array;
  private next = 1;
  private readonly log: ReadLog | null;
  private closed = false;

  constructor(private readonly opts: RemoteSourceOptions) {
    this.size = opts.size;
    const shared = new SharedArrayBuffer(4);
    this.flag = new Int32Array(shared);
    const { port1, port2 } = new (workerThreads().MessageChannel)();
    this.port = port1;
    const at = opts.deadline?.at ?? Date.now() + 3600_000;
    const init: WorkerInit = {
      url: opts.url,
      size: opts.size,
      validator: opts.validator,
      flag: shared,
      port: port2,
      deadlineAt: at,
      concurrency: opts.concurrency ?? 4,
      timeoutMs: opts.timeoutMs ?? 30_000,
      attempts: opts.attempts ?? 4,
    };
    this.worker = new (workerThreads().Worker)(BOOT, { eval: true, argv: [workerFile()], workerData: init, transferList: [port2] });
    this.worker.unref();
    this.worker.on('error', (err) => {
      this.lost ??= new SourceLostError(`${opts.url}: the request thread failed: ${err.message.split('\n')[0]}`);
    });
    // Whole blocks of the sniffed head (and the last, short one when the head is the whole file).
    const head = opts.head ?? Buffer.alloc(0);
    for (let n = 0; n * BLOCK < head.length; n++) {
      const end = Math.min((n + 1) * BLOCK, this.size);
      if (end <= head.length) this.blocks.set(n, Buffer.from(head.subarray(n * BLOCK, end)));
    }
    this.log = remoteReadLog(opts.url);
  }

  /** Why the source can no longer be read (a failed request, a changed file), or null. */
  get lostReason(): BudgetError | null {
    return this.lost;
  }

  read(offset: number, length: number): Buffer {
    return readFresh(this, offset, length);
  }

  readInto(buf: Buffer, offset: number, length: number): void {
    checkRange(this, offset, length);
    if (this.lost) throw this.lost;
    if (this.closed) throw new SourceLostError('image already closed');
    if (length === 0) return;
    const first = Math.floor(offset / BLOCK);
    const last = Math.floor((offset + length - 1) / BLOCK);
    const fetched = new Map<number, Buffer>();
    const missing: number[] = [];
    for (let n = first; n <= last; n++) if (!this.blocks.has(n)) missing.push(n);
    if (missing.length > 0) this.fetch(missing, fetched);
    for (let n = first; n <= last; n++) {
      const b = fetched.get(n) ?? this.blocks.get(n);
      if (!b) throw new SourceLostError(`${this.opts.url}: block ${n} was not fetched`);
      if (!fetched.has(n)) {
        // Most recently used last.
        this.blocks.delete(n);
        this.blocks.set(n, b);
      }
      const from = Math.max(offset, n * BLOCK);
      const to = Math.min(offset + length, n * BLOCK + b.length);
      b.copy(buf, from - offset, from - n * BLOCK, to - n * BLOCK);
    }
    this.log?.record(offset, buf, length);
  }

  /** Fetch the missing blocks (sorted) into `into` and the cache; throws (and stays lost) when that fails. */
  private fetch(missing: number[], into: Map<number, Buffer>): void {
    const ranges: Array<[number, number]> = [];
    const perPiece = PIECE / BLOCK;
    for (let i = 0; i < missing.length; ) {
      let j = i;
      while (j + 1 < missing.length && missing[j + 1] === missing[j]! + 1 && j + 1 - i < perPiece) j++;
      ranges.push([missing[i]! * BLOCK, Math.min(this.size, (missing[j]! + 1) * BLOCK)]);
      i = j + 1;
    }
    const answer = this.ask({ id: this.next++, ranges });
    this.bytes += answer.bytes;
    this.requests += answer.requests;
    if (answer.error !== null) {
      // The worker gave up at the target's deadline: the deadline's own reason, not the worker's.
      if (Date.now() >= (this.opts.deadline?.at ?? Infinity)) this.expire();
      this.lose(answer.error);
    }
    for (const { start, data } of answer.parts) {
      const all = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
      for (let off = 0; off < all.length; off += BLOCK) {
        const block = all.subarray(off, Math.min(all.length, off + BLOCK));
        const n = (start + off) / BLOCK;
        into.set(n, block);
        this.blocks.set(n, block);
      }
    }
    while (this.blocks.size * BLOCK > CACHE_BYTES) this.blocks.delete(this.blocks.keys().next().value as number);
  }

  private lose(why: string): never {
    const err = new SourceLostError(why);
    this.lost = err;
    // Whoever catches it, the target is no longer complete (src/image/read-failures.ts).
    recordReadFailure(why);
    throw err;
  }

  /** Post a request to the worker and wait (the reading thread blocks) for its answer or the deadline. */
  private ask(req: WorkerRequest): WorkerAnswer {
    this.worker.postMessage(req);
    for (;;) {
      const seen = Atomics.load(this.flag, 0);
      const got = workerThreads().receiveMessageOnPort(this.port);
      if (got) {
        const a = got.message as WorkerAnswer;
        if (a.id === -1) this.lose(`${this.opts.url}: ${a.error}`);
        if (a.id === req.id) return a;
        continue; // an answer to a request abandoned at a deadline
      }
      const at = this.opts.deadline?.at ?? Infinity;
      const wait = Math.min(1000, at - Date.now());
      if (wait <= 0) this.expire();
      Atomics.wait(this.flag, 0, seen, wait);
    }
  }

  /** The deadline passed: its TimeoutError, kept so every later read fails the same way (a probe that catches it). */
  private expire(): never {
    try {
      this.opts.deadline?.check();
      throw new TimeoutError(`${this.opts.url}: timed out waiting for the server`);
    } catch (err) {
      this.lost = err as BudgetError;
      throw err;
    }
  }

  dropCache(): void {
    this.blocks.clear();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.blocks.clear();
    this.port.close();
    void this.worker.terminate();
  }
}
