/**
 * Launching the appliance for one image: `auto` tries KVM and, if qemu fails or hangs, retries once with TCG
 * (LIBGUESTFS_BACKEND_SETTINGS=force_tcg); once KVM failed in this process, later images go straight to TCG.
 */
import type { Accel } from '../types.js';
import type { PreparedImage } from '../image/prepare.js';
import { qemuReason, scrubPaths } from '../image/qemu-reason.js';
import { oneLine, TargetError, TimeoutError } from '../errors.js';
import { Guestfish, GuestfsCommandError, quoteArg } from './guestfish.js';

/** How long `auto` gives a KVM launch before it falls back to TCG (qemu can hang rather than fail). */
function kvmLaunchTimeoutMs(env: NodeJS.ProcessEnv): number {
  return Number(env.HOSTLEAK_KVM_LAUNCH_TIMEOUT_MS ?? 30000);
}
/** Set once a KVM launch failed in this process: later images go straight to TCG. */
let kvmBroken = false;

function envFor(accel: 'kvm' | 'tcg', base: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env = { ...base };
  const settings = (env.LIBGUESTFS_BACKEND_SETTINGS ?? '')
    .split(':')
    .filter((s) => s !== '' && s !== 'force_tcg' && s !== 'force_kvm');
  if (accel === 'tcg') settings.push('force_tcg');
  if (settings.length > 0) env.LIBGUESTFS_BACKEND_SETTINGS = settings.join(':');
  else delete env.LIBGUESTFS_BACKEND_SETTINGS;
  return env;
}

/** Launch one appliance on the prepared image; `auto` falls back to TCG once when the KVM launch fails. */
export async function launch(
  img: PreparedImage,
  accel: Accel,
  deadline: number,
  timeoutS: number,
  baseEnv: NodeJS.ProcessEnv,
  verbose?: (msg: string) => void,
): Promise<{ g: Guestfish; mode: 'kvm' | 'tcg' }> {
  const forcedTcg = (baseEnv.LIBGUESTFS_BACKEND_SETTINGS ?? '').split(':').includes('force_tcg');
  const attempts: Array<'kvm' | 'tcg'> =
    accel === 'tcg' || (accel === 'auto' && (forcedTcg || kvmBroken))
      ? ['tcg']
      : accel === 'kvm'
        ? ['kvm']
        : ['kvm', 'tcg'];
  if (accel === 'auto' && kvmBroken && !forcedTcg) verbose?.('guestfs: KVM failed earlier in this run; using TCG');
  let lastErr: Error | null = null;
  const kvmTimeoutMs = kvmLaunchTimeoutMs(baseEnv);
  for (const mode of attempts) {
    const remaining = deadline - Date.now();
    if (remaining <= 0) break;
    const started = Date.now();
    verbose?.(`guestfs: launching appliance (${mode === 'kvm' ? 'KVM' : 'TCG'}) for ${img.path}`);
    const g = new Guestfish({ env: envFor(mode, baseEnv), timeoutMs: remaining, timeoutS, verbose });
    try {
      await g.run(`add-drive ${quoteArg(img.path)} readonly:true format:${img.container}`);
    } catch (err) {
      await g.close().catch(() => undefined);
      // A refusal of ours (time, guestfish missing) stands; guestfish's own failure is explained below.
      if (err instanceof TargetError && !(err instanceof GuestfsCommandError)) throw err;
      // The drive itself was rejected (before any qemu ran): another accelerator will not help. libguestfs hides
      // qemu's reason and names its temp overlay: ask qemu-img for the reason, and name no host path.
      const reason = await qemuReason(img.path, img.container);
      throw new TargetError(
        `libguestfs rejected the image: ${reason ? `qemu: ${reason}` : scrubPaths(oneLine((err as Error).message), [[img.path, 'the image']])}`,
      );
    }
    // Under KVM a launch takes seconds; where KVM is broken qemu may hang instead of failing, so bound it.
    let hung = false;
    const kvmTimer =
      mode === 'kvm' && attempts.length > 1
        ? setTimeout(() => {
            hung = true;
            g.kill();
          }, kvmTimeoutMs)
        : null;
    try {
      await g.run('run');
      if (kvmTimer) clearTimeout(kvmTimer);
      verbose?.(`guestfs: appliance up in ${Date.now() - started} ms (acceleration: ${mode === 'kvm' ? 'KVM' : 'TCG'})`);
      return { g, mode };
    } catch (err) {
      if (kvmTimer) clearTimeout(kvmTimer);
      await g.close().catch(() => undefined);
      if (err instanceof TargetError && !(err instanceof GuestfsCommandError) && !hung) throw err;
      const msg = hung ? `no answer within ${kvmTimeoutMs / 1000} s` : scrubPaths(oneLine((err as Error).message), [[img.path, 'the image']]);
      if (mode === 'kvm') kvmBroken = true;
      // --accel kvm has no fallback: say what would have worked.
      const hint = mode === 'kvm' && attempts.length === 1 ? '; KVM does not work here: use --accel tcg (or auto, which falls back by itself), and `hostleak doctor` to check this machine' : '';
      lastErr = new TargetError(`libguestfs could not launch the appliance: ${msg}${hint}`);
      if (mode === 'kvm' && attempts.length > 1) {
        verbose?.(`guestfs: KVM launch failed (${msg}); retrying once with TCG (LIBGUESTFS_BACKEND_SETTINGS=force_tcg)`);
      }
    }
  }
  throw lastErr ?? new TimeoutError(`timed out after ${timeoutS} s, before the appliance started (see --timeout)`);
}
