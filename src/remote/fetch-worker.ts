/**
 * The thread behind a RemoteSource (src/remote/source.ts): the native readers read synchronously, so their reads of
 * a remote image are range requests made here while the reading thread waits on a shared flag. Each request names
 * byte ranges; they are fetched in parallel (the client's limit), every answer's validator compared with the one the
 * image was opened with, and the bytes (or the one-line reason) posted back on the port, then the flag bumped.
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { HttpClient, HttpError, validatorChange, type Validator } from './http.js';

export interface WorkerInit {
  url: string;
  size: number;
  validator: Validator;
  /** Int32Array over a SharedArrayBuffer: [0] counts answers posted. */
  flag: SharedArrayBuffer;
  port: MessagePort;
  /** Epoch ms at which the target's time is up. */
  deadlineAt: number;
  concurrency: number;
  timeoutMs: number;
  attempts: number;
}

export interface WorkerRequest {
  id: number;
  /** [start, end) byte ranges. */
  ranges: Array<[number, number]>;
}

export interface WorkerAnswer {
  id: number;
  parts: Array<{ start: number; data: Uint8Array }>;
  /** Body bytes received for this request (retries included). */
  bytes: number;
  requests: number;
  error: string | null;
}

const init = workerData as WorkerInit;
const flag = new Int32Array(init.flag);
const deadline = AbortSignal.timeout(Math.max(1, init.deadlineAt - Date.now()));
const client = new HttpClient({ concurrency: init.concurrency, timeoutMs: init.timeoutMs, attempts: init.attempts, signal: deadline });

function answer(a: WorkerAnswer): void {
  init.port.postMessage(a, a.parts.map((p) => p.data.buffer as ArrayBuffer));
  Atomics.add(flag, 0, 1);
  Atomics.notify(flag, 0);
}

async function serve(req: WorkerRequest): Promise<void> {
  const before = { ...client.stats };
  try {
    const parts = await Promise.all(
      req.ranges.map(async ([start, end]) => {
        const r = await client.get(init.url, { range: { start, end } });
        const change = validatorChange(init.validator, r.validator);
        if (change) throw new HttpError(`the remote file changed during the audit (${change})`, r.status, init.url, false);
        if (r.totalSize !== null && r.totalSize !== init.size) {
          throw new HttpError(`the remote file changed during the audit (its size went from ${init.size} to ${r.totalSize} bytes)`, r.status, init.url, false);
        }
        const data = new Uint8Array(r.body.length);
        data.set(r.body);
        return { start, data };
      }),
    );
    answer({ id: req.id, parts, bytes: client.stats.bytes - before.bytes, requests: client.stats.requests - before.requests, error: null });
  } catch (err) {
    const msg = deadline.aborted ? 'timed out' : err instanceof Error ? err.message.split('\n')[0]! : String(err);
    answer({ id: req.id, parts: [], bytes: client.stats.bytes - before.bytes, requests: client.stats.requests - before.requests, error: msg });
  }
}

parentPort!.on('message', (req: WorkerRequest) => void serve(req));
