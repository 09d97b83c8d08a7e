/**
 * One side of a native-vs-guestfs comparison: an image opened through the product's own opener (openTarget, with
 * the given backend; guestfs under TCG) and audited as `scan` audits it, reduced to what both backends must agree on.
 */
import { openTarget } from '../../src/commands/common.js';
import { prepare } from '../../src/engine/gate/index.js';
import { auditImage } from '../../src/scan.js';
import { BACKEND_CHOICES, type BackendChoice } from '../../src/types.js';
import { builtinRules } from '../../rules/index.js';
import type { Entry, FilesystemInfo, Finding, HostIdentity } from '../../src/types.js';

export const HOST: HostIdentity = { user: 'bob', home: '/home/bob', name: 'bobs-laptop' };
export const HOST_ARGS = ['--host-user', HOST.user!, '--host-home', HOST.home!, '--host-name', HOST.name!];

export interface Side {
  backend: string;
  filesystems: FilesystemInfo[];
  problems: string[];
  entries: Array<Omit<Entry, 'mode'> & { mode: string }>;
  findings: Array<Pick<Finding, 'ruleId' | 'path' | 'severity' | 'message' | 'evidence' | 'filesystem'>>;
}

export function findingKey(f: Pick<Finding, 'ruleId' | 'path' | 'severity' | 'message' | 'evidence' | 'filesystem'>) {
  return { ruleId: f.ruleId, path: f.path, severity: f.severity, message: f.message, evidence: f.evidence, filesystem: f.filesystem };
}

/** Open `file` with `backend` (cwd: a scratch folder for the config lookup), list every root and run every rule. */
export async function readSide(file: string, backend: BackendChoice, cwd: string): Promise<Side> {
  const gate = await prepare({}, { cwd, builtins: builtinRules, backendChoices: BACKEND_CHOICES });
  const image = await openTarget(file, backend, { guestfs: { accel: 'tcg' } }, undefined);
  try {
    const entries: Side['entries'] = [];
    for (const root of image.roots) {
      for (const e of root.inventory.entries()) {
        entries.push({
          path: root.prefix ? `${root.prefix}:${e.path}` : e.path,
          type: e.type,
          mode: e.mode.toString(8),
          uid: e.uid,
          gid: e.gid,
          size: e.size,
          mtime: e.mtime,
          ...(e.target !== undefined ? { target: e.target } : {}),
          fs: e.fs,
        });
      }
    }
    const findings = (await auditImage(image, { rules: gate.rules, host: HOST }, file)).map(findingKey);
    return { backend: image.backend, filesystems: image.filesystems, problems: image.problems, entries, findings };
  } finally {
    await image.close();
  }
}

/** Both sides agree: filesystems, problems, every entry's fields, every finding. */
export function expectSameSides(n: Side, g: Side): void {
  expect([n.backend, g.backend]).toEqual(['native', 'guestfs']);
  expect(n.problems).toEqual(g.problems);
  expect(n.filesystems).toEqual(g.filesystems);
  // Same set of paths first (a short, readable failure), then every field of every entry.
  expect(n.entries.map((e) => e.path)).toEqual(g.entries.map((e) => e.path));
  const byPath = new Map(g.entries.map((e) => [e.path, e]));
  for (const e of n.entries) expect(e).toEqual(byPath.get(e.path));
  expect(n.findings).toEqual(g.findings);
}
