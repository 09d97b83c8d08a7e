/**
 * Process-wide cleanup for what an audit leaves on the host (temporary decompressed images, appliance process
 * groups). Handlers run when their owner releases them, and also on SIGINT/SIGTERM/SIGHUP and at exit, so Ctrl-C
 * never leaves a multi-GB temp file or a qemu behind.
 *
 * Handlers must be synchronous (signal and exit paths cannot await).
 */
type Handler = () => void;

const handlers = new Set<Handler>();
let installed = false;
const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

function runAll(): void {
  for (const h of [...handlers]) {
    handlers.delete(h);
    try {
      h();
    } catch {
      /* best effort: keep cleaning the rest */
    }
  }
}

function onSignal(sig: NodeJS.Signals): void {
  runAll();
  for (const s of SIGNALS) process.removeListener(s, onSignal);
  // Die of the same signal, as if we had no handler.
  process.kill(process.pid, sig);
}

function install(): void {
  if (installed) return;
  installed = true;
  for (const s of SIGNALS) process.on(s, onSignal);
  process.on('exit', runAll);
}

/** Register a synchronous cleanup; returns a function that runs it now (once) and unregisters it. */
export function registerCleanup(h: Handler): () => void {
  install();
  let done = false;
  const wrapped = () => {
    if (done) return;
    done = true;
    h();
  };
  handlers.add(wrapped);
  return () => {
    handlers.delete(wrapped);
    wrapped();
  };
}
