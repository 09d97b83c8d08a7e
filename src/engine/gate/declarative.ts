/**
 * Declarative rules: YAML files in `--rules-dir DIR` (or the config's `rulesDir`) that become ordinary Rules, so they
 * run through the same engine, batching, severity config and reporters as the built-in ones.
 *
 * ```yaml
 * id: build-logs-left
 * severity: warning
 * description: Build logs were left in the image
 * remediation: Clean /var/log in the image builder's last step
 * message: "{path} is a build log"          # optional; {path} {target} {uid} {mode} are filled in
 * match:
 *   glob: /var/log/**                        # one glob or a list, absolute inside the image
 *   type: file                               # file | dir | symlink | chardev | blockdev | fifo | socket, or a list
 *   owner: root                              # a uid or a user name of the image's /etc/passwd, or a list
 *   mode: { any: "0002" }                    # all / any / none of these octal bits set
 *   target: dangling                         # symlinks: "dangling", or { pattern: REGEX } on the stored target
 *   content: { pattern: "BEGIN .*PRIVATE KEY", flags: i, maxBytes: 65536 }
 * ```
 * A file holds one rule or a list of them. Every predicate given must hold. Content matches report the line
 * number only, never the matched text (it may be a secret).
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { yaml } from '../../lazy.js';
import { isRuntimePath } from '../kit/homes.js';
import { DEFAULT_MAX_BYTES } from '../runtime/imagefs.js';
import type { Registry } from '../runtime/registry.js';
import { defineRule, type Rule } from '../kit/rule.js';
import { validate } from './schema.js';
import type { Entry, EntryType, Severity } from '../../types.js';
import { SEVERITIES } from '../../types.js';
import { describeFailure } from '../../inventory.js';
import { oneLine, RuleLoadError } from '../../errors.js';

export const DEFAULT_CONTENT_BYTES = 64 * 1024;
const ENTRY_TYPES: EntryType[] = ['file', 'dir', 'symlink', 'chardev', 'blockdev', 'fifo', 'socket'];

export interface DeclarativeSpec {
  id: string;
  severity: Severity;
  description: string;
  remediation: string;
  message?: string;
  tags?: string[];
  references?: string[];
  helpUri?: string;
  match: {
    glob: string | string[];
    type?: EntryType | EntryType[];
    owner?: number | string | Array<number | string>;
    mode?: { all?: string; any?: string; none?: string };
    target?: 'dangling' | { pattern: string; flags?: string };
    content?: { pattern: string; flags?: string; maxBytes?: number };
  };
}

const oneOrMany = (s: object) => ({ oneOf: [s, { type: 'array', minItems: 1, items: s }] });
const octal = { type: 'string', pattern: '^0?[0-7]{1,4}$' };
const regexFlags = { type: 'string', pattern: '^[imsu]*$' };

export const RULE_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'severity', 'description', 'remediation', 'match'],
  properties: {
    id: { type: 'string', pattern: '^[a-z0-9]+(-[a-z0-9]+)*$' },
    severity: { enum: [...SEVERITIES] },
    description: { type: 'string', minLength: 1 },
    remediation: { type: 'string', minLength: 1 },
    message: { type: 'string', minLength: 1 },
    tags: { type: 'array', items: { type: 'string' } },
    references: { type: 'array', items: { type: 'string' } },
    helpUri: { type: 'string', pattern: '^https?://' },
    match: {
      type: 'object',
      additionalProperties: false,
      required: ['glob'],
      properties: {
        glob: oneOrMany({ type: 'string', pattern: '^/' }),
        type: oneOrMany({ enum: ENTRY_TYPES }),
        owner: oneOrMany({ oneOf: [{ type: 'integer', minimum: 0 }, { type: 'string', minLength: 1 }] }),
        mode: {
          type: 'object',
          additionalProperties: false,
          minProperties: 1,
          properties: { all: octal, any: octal, none: octal },
        },
        target: {
          oneOf: [
            { const: 'dangling' },
            {
              type: 'object',
              additionalProperties: false,
              required: ['pattern'],
              properties: { pattern: { type: 'string', minLength: 1 }, flags: regexFlags },
            },
          ],
        },
        content: {
          type: 'object',
          additionalProperties: false,
          required: ['pattern'],
          properties: {
            pattern: { type: 'string', minLength: 1 },
            flags: regexFlags,
            maxBytes: { type: 'integer', minimum: 1, maximum: DEFAULT_MAX_BYTES },
          },
        },
      },
    },
  },
} as const;

const HINTS = [
  { field: /^match\.glob(\[\d+\])?/, message: 'must be an absolute glob inside the image (or a list of them)' },
  { field: /^match\.type(\[\d+\])?/, message: `must be one of ${ENTRY_TYPES.join(', ')} (or a list of them)` },
  { field: /^match\.owner(\[\d+\])?/, message: 'must be a uid or a user name (or a list of them)' },
  { field: /^match\.mode\.(all|any|none)/, message: 'must be octal permission bits as a string, e.g. "4000"' },
  { field: /^match\.target/, message: "must be 'dangling' or { pattern: REGEX, flags }" },
];

const list = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

function compileRegex(pattern: string, flags: string | undefined, where: string): RegExp {
  try {
    return new RegExp(pattern, flags ?? '');
  } catch (err) {
    throw new RuleLoadError(`${where}: not a valid regular expression (${(err as Error).message})`);
  }
}

function lineOf(text: string, index: number): number {
  let n = 1;
  for (let i = 0; i < index; i++) if (text.charCodeAt(i) === 10) n++;
  return n;
}

function fill(template: string, vars: Record<string, string>): string {
  return template.replace(/\{(path|target|uid|mode)\}/g, (_, k: string) => vars[k] ?? '');
}

/** Validate one parsed rule document and build the Rule. `where` names it in errors (file and index). */
export function declarativeRule(data: unknown, where: string): Rule {
  const problem = validate(RULE_SCHEMA, data, HINTS);
  if (problem) throw new RuleLoadError(`${where}: ${problem.field}: ${problem.message}`);
  const spec = data as DeclarativeSpec;
  const m = spec.match;
  const globs = list(m.glob);
  const types = m.type ? new Set(list(m.type)) : null;
  const owners = list(m.owner);
  const bits = (s: string | undefined) => (s === undefined ? null : parseInt(s, 8));
  const modeAll = bits(m.mode?.all);
  const modeAny = bits(m.mode?.any);
  const modeNone = bits(m.mode?.none);
  const dangling = m.target === 'dangling';
  const targetRe =
    m.target && m.target !== 'dangling' ? compileRegex(m.target.pattern, m.target.flags, `${where}: match.target.pattern`) : null;
  const contentRe = m.content ? compileRegex(m.content.pattern, m.content.flags, `${where}: match.content.pattern`) : null;
  const maxBytes = m.content?.maxBytes ?? DEFAULT_CONTENT_BYTES;

  return defineRule({
    definition: spec,
    meta: {
      id: spec.id,
      severity: spec.severity,
      tags: spec.tags ?? ['custom'],
      description: spec.description,
      remediation: spec.remediation,
      references: spec.references ?? [],
      helpUri: spec.helpUri ?? null,
    },
    async check({ inventory, fs, accounts, report }) {
      // Owners by name need the image's accounts; without them such a rule matches nothing.
      const uids = new Set<number>();
      for (const o of owners) {
        if (typeof o === 'number') uids.add(o);
        else {
          const u = accounts.userByName(o);
          if (u) uids.add(u.uid);
        }
      }
      const seen = new Set<string>();
      const candidates: Entry[] = [];
      for (const g of globs) {
        for (const e of inventory.glob(g)) {
          if (seen.has(e.path)) continue;
          seen.add(e.path);
          if (types && !types.has(e.type)) continue;
          if (owners.length > 0 && !uids.has(e.uid)) continue;
          if (modeAll !== null && (e.mode & modeAll) !== modeAll) continue;
          if (modeAny !== null && (e.mode & modeAny) === 0) continue;
          if (modeNone !== null && (e.mode & modeNone) !== 0) continue;
          if (dangling || targetRe) {
            if (e.type !== 'symlink') continue;
            if (targetRe && !targetRe.test(e.target ?? '')) continue;
          }
          candidates.push(e);
        }
      }
      await Promise.all(
        candidates.map(async (e) => {
          const details: string[] = [];
          let evidence: string | null = e.type === 'symlink' ? `-> ${e.target ?? ''}` : null;
          let line: number | undefined;
          if (dangling) {
            const r = inventory.resolve(e.path);
            if (r.ok || isRuntimePath(r.at)) return;
            details.push(describeFailure(r));
          }
          if (contentRe) {
            const read = await fs.readFile(e.path, { maxBytes });
            if (!read) return;
            const text = read.data.subarray(0, maxBytes).toString('utf8');
            contentRe.lastIndex = 0;
            const hit = contentRe.exec(text);
            if (!hit) return;
            line = lineOf(text, hit.index);
            evidence = `content matches /${contentRe.source}/ at line ${line}`;
          }
          const vars = { path: e.path, target: e.target ?? '', uid: String(e.uid), mode: e.mode.toString(8).padStart(4, '0') };
          const message = spec.message
            ? fill(spec.message, vars)
            : `${e.path}: ${spec.description}${details.length > 0 ? ` (${details.join('; ')})` : ''}`;
          report({ path: e.path, message, evidence, ...(line !== undefined ? { line } : {}) });
        }),
      );
    },
  });
}

/** Every rule in the *.yaml / *.yml files of `dir` (not recursive), in file-name order. */
export async function loadRulesDir(dir: string): Promise<Array<{ rule: Rule; file: string }>> {
  let names: string[];
  try {
    names = (await fsp.readdir(dir)).filter((n) => /\.ya?ml$/i.test(n)).sort();
  } catch (err) {
    throw new RuleLoadError(`${dir}: cannot read rules directory (${(err as NodeJS.ErrnoException).code ?? err})`);
  }
  const out: Array<{ rule: Rule; file: string }> = [];
  for (const name of names) {
    const file = path.join(dir, name);
    const text = await fsp.readFile(file, 'utf8');
    const doc = yaml().parseDocument(text, { uniqueKeys: true, prettyErrors: true });
    if (doc.errors.length > 0) throw new RuleLoadError(`${file}: not valid YAML (${oneLine(doc.errors[0])})`);
    const data: unknown = doc.toJS();
    const docs = Array.isArray(data) ? data : [data];
    if (docs.length === 0) throw new RuleLoadError(`${file}: holds no rule`);
    docs.forEach((d, i) => out.push({ rule: declarativeRule(d, Array.isArray(data) ? `${file}[${i}]` : file), file }));
  }
  return out;
}

/** Load every directory's rules into the registry; a duplicate id (of a built-in or another file) is an error. */
export async function registerRulesDirs(registry: Registry, dirs: string[]): Promise<Rule[]> {
  const added: Rule[] = [];
  const from = new Map<string, string>();
  for (const dir of dirs) {
    for (const { rule, file } of await loadRulesDir(dir)) {
      const id = rule.meta.id;
      if (registry.has(id)) {
        throw new RuleLoadError(
          from.has(id) ? `${file}: id: '${id}' is already defined in ${from.get(id)}` : `${file}: id: '${id}' duplicates a built-in rule`,
        );
      }
      registry.add(rule);
      from.set(id, file);
      added.push(rule);
    }
  }
  return added;
}
