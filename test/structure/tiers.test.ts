/**
 * The test tiers (jest.config.js): every test file is in exactly one of `quick` and `appliance`, as jest itself lists
 * them, and a quick file does not name the appliance's tools or backend unless it says below why that boots nothing.
 * What a quick file starts at run time is checked by the quick tier itself (test/helpers/tiers/quick-setup.cjs).
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '..', '..');
const CONFIG = path.join(ROOT, 'jest.config.js');

/** Quick files that name libguestfs without starting it, and why. */
const NAMES_WITHOUT_BOOTING: Record<string, string> = {
  'test/backends/guestfish.test.ts': 'drives a stand-in guestfish script, never the real one',
  'test/containerfile.test.ts': 'reads the Containerfile, whose guestfs target installs libguestfs-tools',
  'test/messages.e2e.test.ts': 'runs --backend guestfs with a PATH that has no libguestfs, for the install hint',
  'test/remote/http-targets.e2e.test.ts': '--backend guestfs is refused for a target behind HTTP before any launch',
};

/** The test files of the repository: test/output (built fixtures, an installed package) is not ours. */
const testFiles = (): string[] =>
  readdirSync(path.join(ROOT, 'test'), { withFileTypes: true })
    .filter((e) => e.name !== 'output')
    .flatMap((e) => (e.isDirectory() ? readdirSync(path.join(ROOT, 'test', e.name), { recursive: true, encoding: 'utf8' }).map((f) => path.join(e.name, f)) : [e.name]))
    .filter((f) => f.endsWith('.test.ts'))
    .map((f) => path.posix.join('test', f.split(path.sep).join('/')))
    .sort();

/** The files jest runs for one project, repository-relative. */
function listed(project: string): string[] {
  const jest = path.join(ROOT, 'node_modules', 'jest', 'bin', 'jest.js');
  const r = spawnSync(process.execPath, ['--experimental-vm-modules', '--no-warnings', jest, '--listTests', '--selectProjects', project], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, HOSTLEAK_TEST_TIER: '' },
  });
  expect(r.status).toBe(0);
  return r.stdout
    .split('\n')
    .filter((l) => l.endsWith('.test.ts'))
    .map((l) => path.relative(ROOT, l).split(path.sep).join('/'))
    .sort();
}

describe('test tiers', () => {
  it('every test file is in exactly one tier, and the appliance tier is the list in jest.config.js', async () => {
    const { APPLIANCE_TESTS } = (await import(CONFIG)) as { APPLIANCE_TESTS: string[] };
    const quick = listed('quick');
    const appliance = listed('appliance');
    expect(appliance).toEqual([...APPLIANCE_TESTS].sort());
    expect(quick.filter((f) => appliance.includes(f))).toEqual([]);
    expect([...quick, ...appliance].sort()).toEqual(testFiles());
    expect(quick.length).toBeGreaterThan(appliance.length);
  });

  it('a quick file names no libguestfs tool or the guestfs backend, unless it says why that boots nothing', async () => {
    const { APPLIANCE_TESTS } = (await import(CONFIG)) as { APPLIANCE_TESTS: string[] };
    const naming = testFiles().filter(
      (f) => !APPLIANCE_TESTS.includes(f) && /'(guestfish|guestmount|virt-[a-z-]+|guestfs)'/.test(readFileSync(path.join(ROOT, f), 'utf8')),
    );
    expect(naming).toEqual(Object.keys(NAMES_WITHOUT_BOOTING).sort());
  });

  it('HOSTLEAK_TEST_TIER=quick leaves the quick project only, with the guard installed', async () => {
    const prev = process.env.HOSTLEAK_TEST_TIER;
    process.env.HOSTLEAK_TEST_TIER = 'quick';
    try {
      const cfg = ((await import(`${CONFIG}?tier=quick`)) as { default: { projects: { displayName: string; globalSetup?: string }[] } }).default;
      expect(cfg.projects.map((p) => p.displayName)).toEqual(['quick']);
      expect(cfg.projects[0]!.globalSetup).toBe('<rootDir>/test/helpers/tiers/quick-setup.cjs');
    } finally {
      process.env.HOSTLEAK_TEST_TIER = prev;
    }
  });
});
