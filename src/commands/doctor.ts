/**
 * `hostleak doctor`: can this machine run the guestfs backend, and how fast? Each check says what is wrong and how
 * to fix it. Launches a real appliance (with KVM, then TCG if KVM fails) and times it.
 */
import { constants as C, promises as fsp } from 'node:fs';
import { launchError } from '../backends/guestfish.js';
import { EXIT_INCOMPLETE, EXIT_OK } from '../exit.js';
import type { CommandContext, RunResult } from './context.js';
import { childProcess } from '../lazy.js';

export interface Check {
  name: string;
  ok: boolean;
  /** Not ok, but hostleak works without it (no KVM: TCG is used): printed as `warn`, and doctor still exits 0. */
  warn?: boolean;
  detail: string;
  fix?: string;
}

interface Launch {
  ok: boolean;
  ms: number;
  why: string;
}

function runGuestfish(env: NodeJS.ProcessEnv, timeoutMs: number): Promise<Launch> {
  const started = Date.now();
  return new Promise((resolve) => {
    // LIBGUESTFS_DEBUG: qemu's own reason for failing is only printed with it (libguestfs otherwise says the
    // appliance "closed the connection unexpectedly" and points at a FAQ).
    const child = childProcess().spawn('sh', ['-c', 'exec guestfish --ro -a /dev/null run 2>&1'], {
      env: { ...env, LIBGUESTFS_DEBUG: '1' },
      detached: true,
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out = (out + d).slice(-65536)));
    let timedOut = false;
    const t = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        /* gone */
      }
    }, timeoutMs);
    child.on('error', (e) => resolve({ ok: false, ms: Date.now() - started, why: e.message }));
    child.on('close', (code) => {
      clearTimeout(t);
      const why = timedOut
        ? `no answer within ${timeoutMs / 1000} s`
        : (launchError(out) ?? out.trim().split('\n').filter(Boolean).pop() ?? `exit status ${code}`);
      resolve({ ok: code === 0 && !timedOut, ms: Date.now() - started, why });
    });
  });
}

function envFor(tcg: boolean, base: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env = { ...base };
  const s = (env.LIBGUESTFS_BACKEND_SETTINGS ?? '').split(':').filter((x) => x && x !== 'force_tcg');
  if (tcg) s.push('force_tcg');
  if (s.length) env.LIBGUESTFS_BACKEND_SETTINGS = s.join(':');
  else delete env.LIBGUESTFS_BACKEND_SETTINGS;
  return env;
}

export async function doctor(env: NodeJS.ProcessEnv = process.env): Promise<Check[]> {
  const checks: Check[] = [];
  const version = await new Promise<string | null>((resolve) => {
    const c = childProcess().spawn('guestfish', ['--version'], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    c.stdout.on('data', (d) => (out += d));
    c.on('error', () => resolve(null));
    c.on('close', (code) => resolve(code === 0 ? out.trim() : null));
  });
  checks.push(
    version
      ? { name: 'libguestfs', ok: true, detail: version }
      : {
          name: 'libguestfs',
          ok: false,
          detail: 'guestfish not found',
          fix: 'install libguestfs-tools (Debian/Ubuntu: apt-get install libguestfs-tools linux-image-generic)',
        },
  );

  let kernels: string[] = [];
  try {
    kernels = (await fsp.readdir('/boot')).filter((f) => f.startsWith('vmlinuz-'));
  } catch {
    /* no /boot */
  }
  const unreadable: string[] = [];
  for (const k of kernels) {
    try {
      await fsp.access(`/boot/${k}`, C.R_OK);
    } catch {
      unreadable.push(k);
    }
  }
  if (kernels.length === 0) {
    checks.push({
      name: 'host kernel',
      ok: false,
      detail: 'no /boot/vmlinuz-* (libguestfs builds its appliance from the host kernel)',
      fix: 'install a kernel package (Debian: linux-image-amd64) or set SUPERMIN_KERNEL',
    });
  } else if (unreadable.length === kernels.length) {
    checks.push({
      name: 'host kernel',
      ok: false,
      detail: `/boot/${unreadable[0]} is not readable by this user`,
      fix: 'sudo chmod 0644 /boot/vmlinuz-* (Ubuntu makes them root-only), or run as root',
    });
  } else {
    checks.push({ name: 'host kernel', ok: true, detail: `readable: ${kernels.filter((k) => !unreadable.includes(k)).join(', ')}` });
  }

  let kvmDev = false;
  try {
    await fsp.access('/dev/kvm', C.R_OK | C.W_OK);
    kvmDev = true;
  } catch {
    /* none */
  }
  if (!version) return checks;
  let accel: 'KVM' | 'TCG' | null = null;
  if (kvmDev) {
    const k = await runGuestfish(envFor(false, env), 60000);
    if (k.ok) {
      accel = 'KVM';
      checks.push({ name: 'KVM', ok: true, detail: `works; one appliance launch took ${(k.ms / 1000).toFixed(1)} s` });
    } else {
      checks.push({
        name: 'KVM',
        ok: false,
        detail: `/dev/kvm is there but qemu fails with it: ${k.why}`,
        fix: 'use --accel tcg (--accel auto falls back to TCG by itself, after a failed KVM launch); or fix KVM on this host (nested virtualisation, kvm module options)',
      });
    }
  } else {
    checks.push({
      name: 'KVM',
      ok: false,
      warn: true,
      detail: '/dev/kvm missing or not accessible: TCG (software emulation) will be used, several times slower',
      fix: 'enable virtualisation, or add this user to the kvm group',
    });
  }
  if (!accel) {
    const t = await runGuestfish(envFor(true, env), 300000);
    checks.push(
      t.ok
        ? { name: 'TCG', ok: true, detail: `works; one appliance launch took ${(t.ms / 1000).toFixed(1)} s` }
        : {
            name: 'TCG',
            ok: false,
            detail: `the appliance does not start (${t.why})`,
            fix: 'run `libguestfs-test-tool` for a full diagnosis',
          },
    );
  }
  return checks;
}

export function formatChecks(checks: Check[]): string {
  return (
    checks
      .map((c) => `${c.ok ? 'ok  ' : c.warn ? 'warn' : 'FAIL'}  ${c.name}: ${c.detail}${c.fix ? `\n      fix: ${c.fix}` : ''}`)
      .join('\n') + '\n'
  );
}

export async function doctorCommand(ctx: CommandContext): Promise<RunResult> {
  const checks = await doctor(ctx.env);
  // Any FAIL is a non-zero exit, so a provisioning script can gate on `hostleak doctor`; a warn (no KVM) is not.
  const failed = checks.filter((c) => !c.ok && !c.warn);
  return {
    exitCode: failed.length > 0 ? EXIT_INCOMPLETE : EXIT_OK,
    stdout: formatChecks(checks),
    stderr: failed.length > 0 ? `hostleak: doctor: ${failed.map((c) => c.name).join(', ')} failed\n` : '',
  };
}
