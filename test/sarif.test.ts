/** SARIF from a real scan of the leaky sample tree: schema-valid, and shaped the way GitHub code scanning needs. */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import Ajv4Module from 'ajv-draft-04';
import addFormatsModule from 'ajv-formats';
import { imageUri, sarifLevel } from '../src/reporters/sarif.js';
import { cli, copyTree, REPO_ROOT, SAMPLES, scratch, TEST_HOST } from './helpers/gate.js';

const SCHEMA_PATH = path.resolve(REPO_ROOT, 'test', 'fixtures', 'sarif-schema-2.1.0.json');

// CommonJS default exports seen from ESM under NodeNext.
const Ajv4 = ((Ajv4Module as unknown as { default?: unknown }).default ?? Ajv4Module) as typeof Ajv4Module.default;
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as typeof addFormatsModule.default;

function validator() {
  if (!existsSync(SCHEMA_PATH)) throw new Error(`SARIF schema missing at ${SCHEMA_PATH}`);
  const ajv = new Ajv4({ allErrors: true, strict: false });
  addFormats(ajv);
  return ajv.compile(JSON.parse(readFileSync(SCHEMA_PATH, 'utf8')));
}

/* eslint-disable @typescript-eslint/no-explicit-any */
type Sarif = any;

async function sarifOf(targets: string[], extra: string[] = []): Promise<{ log: Sarif; exitCode: number }> {
  const r = await cli(['scan', ...targets, '--format', 'sarif', ...TEST_HOST, ...extra]);
  return { log: JSON.parse(r.stdout), exitCode: r.exitCode };
}

describe('sarif', () => {
  const validate = validator();

  it('validates against the SARIF 2.1.0 schema, and every result has a relative location and fingerprints', async () => {
    const { log, exitCode } = await sarifOf([path.join(SAMPLES, 'leaky')]);
    expect(exitCode).toBe(1);
    const ok = validate(log);
    expect(validate.errors ?? []).toEqual([]);
    expect(ok).toBe(true);
    // The validator does reject what the schema forbids.
    const broken = JSON.parse(JSON.stringify(log));
    broken.runs[0].results[0].level = 'fatal';
    expect(validate(broken)).toBe(false);
    expect(log.version).toBe('2.1.0');
    expect(log.runs).toHaveLength(1);
    const run = log.runs[0];
    expect(run.results.length).toBeGreaterThanOrEqual(3);
    for (const r of run.results) {
      const loc = r.locations[0].physicalLocation.artifactLocation;
      expect(loc.uri).not.toMatch(/^\//);
      expect(loc.uri).not.toMatch(/^[a-z]+:/i);
      expect(loc.uriBaseId).toBe('IMAGEROOT');
      expect(r.partialFingerprints['hostleak/v1']).toMatch(/^[0-9a-f]{64}$/);
      expect(['error', 'warning', 'note']).toContain(r.level);
      expect(run.tool.driver.rules[r.ruleIndex].id).toBe(r.ruleId);
    }
    const uris = run.results.map((r: Sarif) => r.locations[0].physicalLocation.artifactLocation.uri);
    expect(uris).toEqual(expect.arrayContaining(['home/bob', 'home/bob/.nix-defexpr', 'home/bob/.nix-defexpr/channels']));
  });

  it('describes every rule with a description, help, helpUri and default level', async () => {
    const { log } = await sarifOf([path.join(SAMPLES, 'clean')]);
    const rules = log.runs[0].tool.driver.rules;
    expect(rules.length).toBeGreaterThanOrEqual(3);
    for (const d of rules) {
      expect(d.shortDescription.text.length).toBeGreaterThan(0);
      expect(d.help.text.length).toBeGreaterThan(0);
      expect(d.helpUri).toBe(`https://github.com/hostleak/hostleak/blob/main/docs/rules/${d.id}.md`);
      expect(['error', 'warning', 'note']).toContain(d.defaultConfiguration.level);
    }
  });

  it('keeps the image identity in automationDetails and run properties, never in a URI', async () => {
    const target = path.join(SAMPLES, 'leaky');
    const { log } = await sarifOf([target]);
    const run = log.runs[0];
    expect(run.automationDetails.id).toBe('hostleak/leaky/');
    expect(run.properties.target).toBe(target);
    expect(run.originalUriBaseIds.IMAGEROOT.uri).toBeUndefined();
    const text = JSON.stringify(run.results);
    expect(text).not.toContain(SAMPLES);
  });

  it('gives the same fingerprints when the image is rebuilt under another name', async () => {
    const s = scratch();
    try {
      const copy = path.join(s.dir, 'rebuilt-image');
      copyTree(path.join(SAMPLES, 'leaky'), copy);
      const a = (await sarifOf([path.join(SAMPLES, 'leaky')])).log.runs[0].results;
      const b = (await sarifOf([copy])).log.runs[0].results;
      const fps = (rs: Sarif[]) => rs.map((r) => `${r.ruleId} ${r.partialFingerprints['hostleak/v1']}`).sort();
      expect(fps(b)).toEqual(fps(a));
    } finally {
      s.cleanup();
    }
  });

  it('shows a failed target as an unsuccessful invocation with an error notification, in its own category', async () => {
    const { log, exitCode } = await sarifOf([path.join(SAMPLES, 'leaky'), path.join(SAMPLES, 'no-such-image')]);
    expect(exitCode).toBe(3);
    expect(validate(log)).toBe(true);
    expect(log.runs).toHaveLength(2);
    expect(log.runs[0].invocations[0].executionSuccessful).toBe(true);
    const failed = log.runs[1];
    expect(failed.invocations[0].executionSuccessful).toBe(false);
    expect(failed.invocations[0].toolExecutionNotifications[0].level).toBe('error');
    expect(failed.invocations[0].toolExecutionNotifications[0].message.text).toContain('no such file or directory');
    expect(failed.properties.status).toBe('failed');
    expect(failed.automationDetails.id).not.toBe(log.runs[0].automationDetails.id);
  });

  it('marks findings shown with --show-suppressed as accepted suppressions, still schema-valid', async () => {
    const s = scratch();
    try {
      const base = path.join(s.dir, 'b.json');
      await cli(['scan', path.join(SAMPLES, 'leaky'), '--format', 'json', '--write-baseline', base, ...TEST_HOST]);
      const { log, exitCode } = await sarifOf([path.join(SAMPLES, 'leaky')], ['--baseline', base, '--show-suppressed']);
      expect(exitCode).toBe(0);
      expect(validate(log)).toBe(true);
      const results = log.runs[0].results;
      expect(results.length).toBeGreaterThanOrEqual(3);
      for (const r of results) {
        expect(r.suppressions).toEqual([{ kind: 'external', status: 'accepted', justification: `in baseline ${base}` }]);
      }
    } finally {
      s.cleanup();
    }
  });

  it('maps severities to levels and encodes paths as relative URI references', () => {
    expect(sarifLevel('error')).toBe('error');
    expect(sarifLevel('warning')).toBe('warning');
    expect(sarifLevel('info')).toBe('note');
    expect(imageUri('/etc/ssh/ssh_host_ed25519_key')).toBe('etc/ssh/ssh_host_ed25519_key');
    expect(imageUri('/home/a b/%x#y?')).toBe('home/a%20b/%25x%23y%3F');
    expect(imageUri('/dev/sda1:/loader/random-seed')).toBe('dev/sda1/loader/random-seed');
    expect(imageUri('/')).toBe('.');
  });
});
