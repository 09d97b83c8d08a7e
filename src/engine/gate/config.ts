/**
 * The configuration file: `hostleak.config.json`, `.yaml` or `.yml` in the working directory, or `--config FILE`.
 *
 * ```yaml
 * rules:
 *   orphaned-home: warning                 # a severity
 *   root-owned-nix-defexpr: off            # disabled
 *   some-rule: [error, { key: value }]     # severity plus options (or { severity, options })
 * host: { user: alice, home: /home/alice, name: builder }
 * backend: { name: auto }
 * failOn: error
 * rulesDir: ./hostleak-rules
 * ignore:
 *   - rule: machine-id
 *     paths: [/etc/machine-id]
 *     reason: the appliance regenerates it on first boot
 *     expires: 2026-12-31
 * ```
 * Loading validates the file against a JSON schema; an unknown rule id (checked once custom rules are loaded), a bad
 * value or a missing reason is a ConfigError naming the file and the field, and the CLI exits 2.
 */
import { existsSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import { yaml } from '../../lazy.js';
import type { FailOn } from '../../exit.js';
import { FAIL_ON_VALUES } from '../../exit.js';
import type { HostIdentity, Severity } from '../../types.js';
import { SEVERITIES } from '../../types.js';
import type { IgnoreEntry } from './ignores.js';
import type { Registry } from '../runtime/registry.js';
import type { EnabledRule } from '../runtime/runner.js';
import { validate } from './schema.js';
import { ConfigError, jsonSyntaxProblem, oneLine } from '../../errors.js';
import { resolveRuleOptions } from '../kit/rule.js';

export const CONFIG_NAMES = ['hostleak.config.json', 'hostleak.config.yaml', 'hostleak.config.yml'] as const;

export type RuleSetting = { severity: Severity | 'off'; options: Record<string, unknown> };

export interface BackendConfig {
  /** Which backend reads targets (`--backend` wins). */
  name?: string;
  /** Open qcow2/vmdk images that name a backing file (guestfs/native). */
  allowBackingFile?: boolean;
  /** Appliance acceleration for guestfs. */
  accel?: 'auto' | 'kvm' | 'tcg';
  /** Per-image timeout in seconds. */
  timeout?: number;
}

export interface Config {
  /** The file it came from, as the user named it (null: no config file). */
  source: string | null;
  rules: Map<string, RuleSetting>;
  host: Partial<HostIdentity>;
  backend: BackendConfig;
  failOn?: FailOn;
  /** Directories of declarative rules, resolved against the config file's directory. */
  rulesDir: string[];
  ignore: IgnoreEntry[];
}

export const EMPTY_CONFIG: Config = { source: null, rules: new Map(), host: {}, backend: {}, rulesDir: [], ignore: [] };

const severityOrOff = { enum: ['off', ...SEVERITIES] };
const severityOnly = { enum: [...SEVERITIES] };
const options = { type: 'object' };

export function configSchema(backendChoices: readonly string[]) {
  return {
    type: 'object',
    additionalProperties: false,
    properties: {
      $schema: { type: 'string' },
      rules: {
        type: 'object',
        propertyNames: { pattern: '^[a-z0-9]+(-[a-z0-9]+)*$' },
        additionalProperties: {
          oneOf: [
            severityOrOff,
            { type: 'array', items: [severityOrOff], minItems: 1, additionalItems: false },
            { type: 'array', items: [severityOnly, options], minItems: 2, additionalItems: false },
            {
              type: 'object',
              additionalProperties: false,
              required: ['severity'],
              properties: { severity: severityOrOff, options },
            },
          ],
        },
      },
      host: {
        type: 'object',
        additionalProperties: false,
        properties: {
          user: { type: ['string', 'null'], minLength: 1 },
          home: { type: ['string', 'null'], pattern: '^/' },
          name: { type: ['string', 'null'], minLength: 1 },
        },
      },
      backend: {
        type: 'object',
        additionalProperties: false,
        properties: {
          name: { enum: [...backendChoices] },
          allowBackingFile: { type: 'boolean' },
          accel: { enum: ['auto', 'kvm', 'tcg'] },
          timeout: { type: 'number', exclusiveMinimum: 0 },
        },
      },
      failOn: { enum: [...FAIL_ON_VALUES] },
      rulesDir: {
        oneOf: [
          { type: 'string', minLength: 1 },
          { type: 'array', items: { type: 'string', minLength: 1 } },
        ],
      },
      ignore: {
        type: 'array',
        items: {
          type: 'object',
          additionalProperties: false,
          required: ['rule', 'reason'],
          properties: {
            rule: { type: 'string', pattern: '^(\\*|[a-z0-9]+(-[a-z0-9]+)*)$' },
            paths: { type: 'array', minItems: 1, items: { type: 'string', pattern: '^/' } },
            reason: { type: 'string', pattern: '\\S' },
            expires: { type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2}$' },
          },
        },
      },
    },
  } as const;
}

const HINTS = [
  {
    field: /^rules\.[a-z0-9-]+/,
    message: "must be 'off', a severity (error, warning, info), [severity, {options}] or {severity, options}",
  },
  { field: /^ignore\[\d+\]\.expires/, message: 'must be a date, YYYY-MM-DD' },
  { field: /^ignore\[\d+\]\.paths\[\d+\]/, message: 'must be an absolute glob inside the image, e.g. /etc/ssh/*' },
  { field: /^ignore\[\d+\]\.reason/, message: 'must say why the finding is accepted' },
  { field: /^ignore\[\d+\]\.rule/, message: "must be a rule id or '*'" },
  { field: /^host\.home/, message: 'must be an absolute path' },
];

function isRealDate(s: string): boolean {
  const d = new Date(`${s}T00:00:00Z`);
  return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === s;
}

function parseText(text: string, file: string): unknown {
  if (/\.json$/i.test(file)) {
    const problem = jsonSyntaxProblem(text);
    if (problem) throw new ConfigError(`${file}: not valid JSON at ${problem}`);
    return JSON.parse(text);
  }
  const doc = yaml().parseDocument(text, { uniqueKeys: true, prettyErrors: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(`${file}: not valid YAML (${oneLine(doc.errors[0])})`);
  }
  return doc.toJS();
}

/** Turn a parsed, schema-valid document into a Config. Exported for tests. */
export function configFromData(
  data: unknown,
  file: string,
  backendChoices: readonly string[],
  baseDir: string = path.dirname(path.resolve(file)),
): Config {
  const doc = data ?? {};
  const problem = validate(configSchema(backendChoices), doc, HINTS);
  if (problem) throw new ConfigError(`${file}: ${problem.field}: ${problem.message}`);
  const d = doc as {
    rules?: Record<string, unknown>;
    host?: Partial<HostIdentity>;
    backend?: BackendConfig;
    failOn?: FailOn;
    rulesDir?: string | string[];
    ignore?: IgnoreEntry[];
  };
  const rules = new Map<string, RuleSetting>();
  for (const [id, v] of Object.entries(d.rules ?? {})) {
    if (typeof v === 'string') rules.set(id, { severity: v as RuleSetting['severity'], options: {} });
    else if (Array.isArray(v)) rules.set(id, { severity: v[0], options: (v[1] as Record<string, unknown>) ?? {} });
    else {
      const o = v as { severity: RuleSetting['severity']; options?: Record<string, unknown> };
      rules.set(id, { severity: o.severity, options: o.options ?? {} });
    }
  }
  (d.ignore ?? []).forEach((e, i) => {
    if (e.expires !== undefined && !isRealDate(e.expires)) {
      throw new ConfigError(`${file}: ignore[${i}].expires: '${e.expires}' is not a real date`);
    }
  });
  const dirs = d.rulesDir === undefined ? [] : Array.isArray(d.rulesDir) ? d.rulesDir : [d.rulesDir];
  return {
    source: file,
    rules,
    host: d.host ?? {},
    backend: d.backend ?? {},
    failOn: d.failOn,
    rulesDir: dirs.map((p) => path.resolve(baseDir, p)),
    ignore: d.ignore ?? [],
  };
}

/**
 * Load the config: `explicit` (from --config, relative to cwd) or the first of CONFIG_NAMES in cwd; none there is
 * fine (EMPTY_CONFIG), a named file that cannot be read is an error.
 */
export async function loadConfig(explicit: string | undefined, cwd: string, backendChoices: readonly string[]): Promise<Config> {
  let file: string;
  if (explicit !== undefined) {
    file = explicit;
  } else {
    const found = CONFIG_NAMES.filter((n) => existsSync(path.join(cwd, n)));
    if (found.length === 0) return EMPTY_CONFIG;
    if (found.length > 1) throw new ConfigError(`${found.join(' and ')} both exist; keep one`);
    file = found[0]!;
  }
  const abs = path.resolve(cwd, file);
  let text: string;
  try {
    text = await fsp.readFile(abs, 'utf8');
  } catch (err) {
    throw new ConfigError(`${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  return configFromData(parseText(text, file), file, backendChoices, path.dirname(abs));
}

/**
 * Rule ids named in the config must exist once custom rules are registered. `ignorableIds` are ids that only ignore
 * entries may name (findings the engine itself makes, like `rule-crashed`).
 */
export function checkRuleIds(cfg: Config, registry: Registry, ignorableIds: readonly string[] = []): void {
  const known = (id: string) => registry.has(id) || ignorableIds.includes(id);
  for (const id of cfg.rules.keys()) {
    if (!registry.has(id)) throw new ConfigError(`${cfg.source}: rules.${id}: unknown rule id '${id}' ('hostleak rules' lists them)`);
  }
  cfg.ignore.forEach((e, i) => {
    if (e.rule !== '*' && !known(e.rule)) {
      throw new ConfigError(`${cfg.source}: ignore[${i}].rule: unknown rule id '${e.rule}' ('hostleak rules' lists them)`);
    }
  });
}

/** The rules this run uses: every registered rule with its configured severity and options, minus those `off`. */
export function enabledRulesFrom(registry: Registry, cfg: Config): EnabledRule[] {
  const out: EnabledRule[] = [];
  for (const rule of registry.all()) {
    const s = cfg.rules.get(rule.meta.id);
    if (s?.severity === 'off') continue;
    let options: Record<string, unknown>;
    try {
      options = resolveRuleOptions(rule.meta, s?.options ?? {});
    } catch (err) {
      throw new ConfigError(`${cfg.source}: rules.${rule.meta.id}.options: ${(err as Error).message}`);
    }
    out.push({ rule, severity: s?.severity ?? rule.meta.severity, options });
  }
  return out;
}
