/** action.yml and docs/ci.md stay in step with the CLI: valid YAML, and every hostleak flag they use exists. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { cli, REPO_ROOT } from './helpers/gate.js';

/* eslint-disable @typescript-eslint/no-explicit-any */
async function flagsOf(command: string): Promise<Set<string>> {
  const r = await cli([command, '--help']);
  expect(r.exitCode).toBe(0);
  const flags = new Set([...r.stdout.matchAll(/--([a-z][a-z-]*)/g)].map((m) => m[1]!));
  for (const f of [...flags]) flags.add(`no-${f}`);
  return flags;
}

/** `hostleak <command> ... --flag` invocations in shell text (continuation lines joined). */
function invocations(text: string): Array<{ command: string; flags: string[] }> {
  const joined = text.replace(/\\\n\s*/g, ' ');
  const out: Array<{ command: string; flags: string[] }> = [];
  for (const m of joined.matchAll(/\bhostleak(?:\.js"?)?\s+(scan|convert|rules|explain)\b([^\n]*)/g)) {
    const rest = m[2]!.split(/[|;&]|\)/)[0]!;
    out.push({ command: m[1]!, flags: [...rest.matchAll(/(?:^|\s)--([a-z][a-z-]*)/g)].map((f) => f[1]!) });
  }
  return out;
}

describe('CI recipes', () => {
  it('action.yml is a composite action that uploads SARIF and uses only real flags', async () => {
    const action = YAML.parse(readFileSync(path.join(REPO_ROOT, 'action.yml'), 'utf8'));
    expect(action.runs.using).toBe('composite');
    expect(action.inputs.targets.required).toBe(true);
    const uses = action.runs.steps.map((s: any) => s.uses).filter(Boolean);
    expect(uses).toEqual(expect.arrayContaining(['github/codeql-action/upload-sarif@v4', 'actions/upload-artifact@v7']));
    // Every input a user sets has a default or is required, and the docs' input table names each one.
    const md = readFileSync(path.join(REPO_ROOT, 'docs', 'ci.md'), 'utf8');
    for (const name of Object.keys(action.inputs)) expect([name, md.includes(`\`${name}\``)]).toEqual([name, true]);
    const script = action.runs.steps.map((s: any) => s.run ?? '').join('\n').replace(/"\$\{(scan|common)\[@\]\}"/g, '');
    const calls = invocations(script.replace(/hostleak "\$\{scan\[@\]\}"/g, 'hostleak scan'));
    const scanArgs = script.match(/scan\+=\(--[a-z-]+/g)!.map((s: string) => s.slice('scan+=(--'.length));
    const commonArgs = script.match(/common\+=\(--[a-z-]+/g)!.map((s: string) => s.slice('common+=(--'.length));
    const gateArgs = script.match(/gate\+=\(--[a-z-]+/g)!.map((s: string) => s.slice('gate+=(--'.length));
    const scanFlags = await flagsOf('scan');
    const convertFlags = await flagsOf('convert');
    for (const f of [...scanArgs, ...commonArgs]) expect(scanFlags).toContain(f);
    for (const f of [...commonArgs, ...gateArgs]) expect(convertFlags).toContain(f);
    expect(calls.filter((c) => c.command === 'convert').length).toBeGreaterThanOrEqual(3);
    for (const c of calls) for (const f of c.flags) expect(c.command === 'scan' ? scanFlags : convertFlags).toContain(f);
  });

  it('docs/ci.md covers GitHub SARIF upload, GitLab JUnit and a flake check, with valid YAML and real flags', async () => {
    const md = readFileSync(path.join(REPO_ROOT, 'docs', 'ci.md'), 'utf8');
    expect(md).toContain('github/codeql-action/upload-sarif');
    // The GitLab section shows what the template publishes, as the template has it.
    const template = YAML.parse(readFileSync(path.join(REPO_ROOT, 'hostleak.gitlab-ci.yml'), 'utf8'));
    const shown = [...md.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => YAML.parse(m[1]!)).find((y) => y?.artifacts?.reports?.codequality);
    expect(shown.artifacts).toEqual(template['.hostleak'].artifacts);
    expect(md).toContain('remote: https://raw.githubusercontent.com/hostleak/hostleak/v0/hostleak.gitlab-ci.yml');
    expect(md).toMatch(/checks\.x86_64-linux\.[a-z-]+ = self\.packages\.x86_64-linux\.hostleak-report\.gate;/);
    expect(md).toContain('hostleak.lib.auditImage {');
    for (const block of md.matchAll(/```yaml\n([\s\S]*?)```/g)) expect(() => YAML.parse(block[1]!)).not.toThrow();
    const flags = { scan: await flagsOf('scan'), convert: await flagsOf('convert') } as Record<string, Set<string>>;
    const calls = invocations(md);
    expect(calls.length).toBeGreaterThan(5);
    for (const c of calls) for (const f of c.flags) if (flags[c.command]) expect([c.command, flags[c.command]!.has(f) ? f : `unknown --${f}`]).toEqual([c.command, f]);
  });
});
