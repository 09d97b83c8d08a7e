/** Audit one target: open it with a backend, run the rules over every root, and make its result (store/ drives many). */
import type { Backend, OpenedImage } from './backends/backend.js';
import { resolveBackend } from './resolve/index.js';
// What a local native scan never uses loads on first use (`import()`: a lazy init in the bundle, scripts/bundle.mjs):
// the guestfs backend, registry and HTTP targets, the `dir` backend.
import type { RegistryTargetOptions } from './resolve/registry.js';
import { isRegistryReference, isRemoteTarget } from './remote/reference.js';
import { NESTED_RULE, withNestedRoots } from './resolve/nested.js';
import type { GuestfsBackendOptions } from './backends/guestfs.js';
import { mib, withBudget } from './budget.js';
import { createBudget } from './image/budget.js';
import { createDeadline, DEFAULT_TIMEOUT_S, raceDeadline, type Deadline } from './image/deadline.js';
import { createNativeBackend, nativeRefusalOf, openNativePrepared } from './backends/native-backend.js';
import { withPreparedImage } from './image/prepare.js';
import { markOpaqueRead } from './image/readlog.js';
import { describeReadFailures, withReadFailures } from './image/read-failures.js';
import { readPlan } from './engine/runtime/readplan.js';
import { runRules, sortFindings, type EnabledRule } from './engine/runtime/runner.js';
import { describePackageDb } from './engine/kit/packages.js';
import { oneLine, TargetError } from './errors.js';
import type { BackendChoice, Finding, HostIdentity, TargetResult } from './types.js';

export interface BackendOptions {
  /** Let a qcow2/vmdk/vhd image read the host file it names; every image backend prepares images with it. */
  allowBackingFile?: boolean;
  /** Audit disk and filesystem images found inside an image as roots of their own (default; false: `--no-nested`). */
  nested?: boolean;
  /** The guestfs appliance: acceleration, per-image timeout (the one deadline of every backend). */
  guestfs?: Omit<GuestfsBackendOptions, 'allowBackingFile'>;
  /** Most real bytes decompressing one target may write to the temp directory. */
  maxDecompressedBytes?: number;
  /** Registry images (`docker://`): the platform, plain-HTTP hosts, where the auth files are. */
  registry?: RegistryTargetOptions;
}

/** Seconds one target may take from open to report, whatever the backend (`--timeout`). */
export function targetTimeoutS(opts: BackendOptions): number {
  return opts.guestfs?.timeoutS ?? DEFAULT_TIMEOUT_S;
}

export interface ScanOptions extends BackendOptions {
  backend: BackendChoice;
  rules: EnabledRule[];
  host: HostIdentity;
  verbose?: (msg: string) => void;
}

/**
 * `auto` for image files: prepare the image once (detect, decompress, refuse backing files), then read it natively
 * when the native readers support every filesystem in it, else (a filesystem, variant or feature they refuse: see
 * nativeRefusal) through one libguestfs appliance, saying why under --verbose.
 */
function autoImageBackend(opts: BackendOptions): Backend {
  const guestfs = opts.guestfs ?? {};
  return {
    name: 'auto',
    open(target, o) {
      const prep = { allowBackingFile: opts.allowBackingFile, signal: o.signal, verbose: o.verbose, maxWrite: o.maxDecompressedBytes };
      return withPreparedImage(target, prep, async (prepared) => {
        const refusal = await nativeRefusalOf(prepared);
        if (refusal === null) return openNativePrepared(prepared, o);
        o.verbose?.(`the native readers refuse it (${refusal}); using libguestfs`);
        markOpaqueRead(target, 'read by qemu');
        return (await import('./backends/guestfs.js')).openGuestfsPrepared(prepared, target, guestfs, o);
      });
    },
  };
}

/**
 * The backend for images found inside a target (archive members, nested images): `--allow-backing-file` applies to
 * the images the user named, never to these, so an image inside one can never make qemu open a host file.
 */
function foundImageBackend(opts: BackendOptions): Backend {
  return autoImageBackend({ ...opts, allowBackingFile: false });
}

export async function pickBackend(target: string, choice: BackendChoice, opts: BackendOptions = {}): Promise<Backend> {
  if (isRegistryReference(target)) {
    if (choice !== 'auto') throw new TargetError(`a registry image is read by the container resolver (--backend auto), not --backend ${choice}`);
    return { name: 'container', open: async (t, o) => (await import('./resolve/registry.js')).openRegistryImage(t, opts.registry ?? {}, o) };
  }
  // A URL: read over HTTP by the native readers (src/resolve/remote.ts); qemu never opens one.
  if (isRemoteTarget(target)) {
    if (choice === 'guestfs' || choice === 'dir') {
      throw new TargetError(`--backend ${choice} does not read a target behind HTTP: download it, or use --backend auto or native`);
    }
    return (await import('./resolve/remote.js')).remoteBackend();
  }
  if (choice === 'dir') return (await import('./backends/dir.js')).dirBackend;
  if (choice === 'guestfs') {
    markOpaqueRead(target, 'read by qemu');
    return (await import('./backends/guestfs.js')).createGuestfsBackend({ ...opts.guestfs, allowBackingFile: opts.allowBackingFile });
  }
  if (choice === 'native') return createNativeBackend({ allowBackingFile: opts.allowBackingFile });
  // Folders and archives are resolved into what they hold (src/resolve/); image files go to the image backends.
  const found = foundImageBackend(opts);
  const { dirBackend } = await import('./backends/dir.js');
  const resolved = await resolveBackend(target, dirBackend, (file, label, o) =>
    found.open(file, { ...o, verbose: o.verbose && ((m: string) => o.verbose!(`${label}: ${m}`)) }),
  );
  return resolved ?? autoImageBackend(opts);
}

/**
 * Run the rules over every root of an opened image. A file the rules, the content pass, the package database or the
 * accounts meant to read and could not becomes one of the image's problems (see UnreadFiles): the target is then
 * `partial`, whichever backend or reader failed.
 */
export async function auditImage(
  image: OpenedImage,
  opts: Pick<ScanOptions, 'rules' | 'host' | 'verbose'>,
  label: string,
  deadline?: Deadline,
): Promise<Finding[]> {
  const findings: Finding[] = [];
  for (const root of image.roots) {
    const tags = root.ruleTags;
    const rules = tags ? opts.rules.filter((r) => r.rule.meta.tags.some((t) => tags.includes(t))) : opts.rules;
    const run = await runRules(root, rules, opts.host, deadline);
    opts.verbose?.(`${label}: ${root.inventory.size} entries, ${run.filesRead} files read in ${run.batches} batches`);
    if (run.packages) opts.verbose?.(`${label}: ${describePackageDb(run.packages)}`);
    for (const f of run.findings) findings.push(f);
    if (run.unread) image.problems.push(run.unread);
  }
  return sortFindings(findings);
}

/** What a store audit shares among its targets that one target needs: the cap on concurrent appliances. */
export interface TargetSlots {
  /** Caps concurrent guestfs appliances (memory); `acquire` resolves with the release function. */
  appliances?: { acquire(): Promise<() => void> };
}

/** One target: audited, then `partial` if any read of its bytes failed (src/image/read-failures.ts), never `ok`. */
export async function scanTarget(target: string, opts: ScanOptions & TargetSlots): Promise<TargetResult> {
  const failures: string[] = [];
  const result = await withReadFailures(failures, () => auditTarget(target, opts));
  if (failures.length > 0 && result.status !== 'failed') {
    const why = describeReadFailures(failures);
    result.error = result.status === 'partial' && result.error ? `${result.error}; ${why}` : `could not read everything: ${why}`;
    result.status = 'partial';
  }
  return result;
}

async function auditTarget(target: string, opts: ScanOptions & TargetSlots): Promise<TargetResult> {
  const started = Date.now();
  const result: TargetResult = {
    target,
    status: 'ok',
    error: null,
    backend: null,
    durationMs: 0,
    auditedAt: new Date(started).toISOString(),
    filesystems: [],
    findings: [],
  };
  let image: OpenedImage | null = null;
  let opening: Promise<OpenedImage> | null = null;
  // One deadline from open to report: decompression, the backend and the rules all stop at it.
  const deadline = createDeadline(targetTimeoutS(opts));
  // One budget shared by everything the target opens: the deadline, one write cap, one memory budget.
  const budget = createBudget({ deadline, maxWrite: opts.maxDecompressedBytes });
  await withBudget(budget, async () => {
    try {
      const backend = await pickBackend(target, opts.backend, opts);
      result.backend = backend.name;
      let t0 = Date.now();
      const appliances = opts.appliances;
      // Several targets run at once: every line the backend prints names its image.
      const verbose = opts.verbose;
      opening = backend.open(target, {
        verbose: verbose && ((msg: string) => verbose(`${target}: ${msg}`)),
        acquireAppliance: appliances ? () => appliances.acquire() : undefined,
        signal: deadline.signal,
        deadline,
        maxDecompressedBytes: opts.maxDecompressedBytes,
        // What the rules will read (an archive judges the heads of possible nested images on its way: ImageRoot.notAnImage).
        expectedRead: readPlan(opts.rules),
      });
      image = await raceDeadline(opening, deadline.signal);
      opening = null;
      deadline.check();
      result.backend = image.backend;
      if (image.digest) result.digest = image.digest;
      opts.verbose?.(`${target}: phase open: ${Date.now() - t0} ms (${image.backend} backend)`);
      let audited = new Set<string>();
      // Images inside the image are audited unless --no-nested: under the target's deadline and write cap, and never
      // with --allow-backing-file (foundImageBackend).
      if (opts.nested !== false) {
        const images = isRemoteTarget(target) ? (await import('./resolve/remote.js')).remoteImageBackend() : foundImageBackend(opts);
        const openImage = (file: string, label: string) =>
          images.open(file, {
            verbose: verbose && ((msg: string) => verbose(`${target}: ${label}: ${msg}`)),
            signal: deadline.signal,
            deadline,
            maxDecompressedBytes: opts.maxDecompressedBytes,
          });
        const n = await raceDeadline(
          withNestedRoots(image, {
            verbose: verbose && ((msg: string) => verbose(`${target}: ${msg}`)),
            openImage,
            // An initramfs inside the image is read as the archive it is (the archive code loads only for one).
            openArchive: async (file, label) =>
              (await import('./resolve/archive.js')).openArchiveFile(file, label, {
                openImage,
                verbose: verbose && ((msg: string) => verbose(`${target}: ${msg}`)),
                signal: deadline.signal,
                deadline,
                maxDecompressedBytes: opts.maxDecompressedBytes,
              }),
            signal: deadline.signal,
            maxCopyBytes: opts.maxDecompressedBytes,
          }),
          deadline.signal,
        );
        image = n.image;
        audited = n.audited;
        deadline.check();
      }
      result.filesystems = image.filesystems;
      t0 = Date.now();
      // A nested image audited as its own root is no longer "not audited".
      result.findings = (await raceDeadline(auditImage(image, opts, target, deadline), deadline.signal)).filter(
        (f) => !(f.ruleId === NESTED_RULE && audited.has(f.path)),
      );
      deadline.check();
      opts.verbose?.(`${target}: phase rules: ${Date.now() - t0} ms (${opts.rules.length} rules)`);
      opts.verbose?.(`${target}: budget: ${mib(budget.memory)} of ${mib(budget.maxMemory)} memory, ${mib(budget.written)} written`);
      if (image.problems.length > 0) {
        result.status = 'partial';
        result.error = `could not read everything: ${image.problems.slice(0, 3).join('; ')}${
          image.problems.length > 3 ? ` (and ${image.problems.length - 3} more)` : ''
        }`;
      }
    } catch (err) {
      result.status = 'failed';
      result.error = oneLine(err);
      if (!(err instanceof TargetError)) opts.verbose?.(`${target}: ${(err as Error)?.stack ?? err}`);
    } finally {
      deadline.dispose();
      // An open that missed the deadline may still finish later: close what it opens then.
      if (opening) void opening.then((late) => late.close()).catch(() => undefined);
      await image?.close().catch(() => undefined);
      result.durationMs = Date.now() - started;
    }
  });
  return result;
}
