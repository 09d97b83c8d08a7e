/**
 * SARIF 2.1.0, shaped for GitHub code scanning:
 * - one run per file, whatever the number of targets: code scanning rejects more than 20 runs per file and no
 *   longer combines several runs of one tool and category, so every image goes into the same run, one invocation
 *   per image (its status, backend and filesystems in the invocation's properties) and the image named in each
 *   result (message, `properties.target`);
 * - the category (`automationDetails.id`) is `--sarif-category`, or by default `hostleak/<targets>/` built from the
 *   target paths with version numbers and store hashes taken out, so a rebuild under a new versioned name stays in
 *   the same category (an upload replaces the previous analysis of its category);
 * - every result has a physical location whose `artifactLocation.uri` is the path inside the image without the
 *   leading slash, relative to the `IMAGEROOT` uriBaseId (described as "inside the image", never a host path), and a
 *   region: the line and columns of the match for content findings, line 1 otherwise;
 * - `partialFingerprints` are the finding's fingerprint (src/fingerprint.ts) combined with the target's stable
 *   name, so an alert survives a rebuild and two images with the same leak stay two alerts;
 * - rules carry `security-severity` and the `security` tag (src/reporters/security.ts), `fullDescription`, and the
 *   rule's documentation page as `help.markdown`;
 * - levels: error -> error, warning -> warning, info -> note;
 * - at most 25,000 results (code scanning's limit per run), the most important kept, with a notification saying how
 *   many were left out;
 * - a target that failed or was only partly read makes its invocation `executionSuccessful: false` with an error
 *   notification.
 */
import { nodeCrypto } from '../lazy.js';
import { fingerprint, FINGERPRINT_VERSION, stablePath } from '../fingerprint.js';
import { splitFindingPath } from '../finding-path.js';
import { SEVERITY_RANK, type Finding, type Report, type RuleMeta, type Severity, type TargetResult } from '../types.js';
import { helpUriFor, REPOSITORY_URL, rulesForReport } from './rule-docs.js';
import { securitySeverity } from './security.js';

export const SARIF_SCHEMA_URI = 'https://json.schemastore.org/sarif-2.1.0.json';
export const URI_BASE_ID = 'IMAGEROOT';
export const FINGERPRINT_KEY = `hostleak/v${FINGERPRINT_VERSION}`;
/** Code scanning keeps at most this many results per run. */
export const MAX_RESULTS = 25_000;

export interface SarifOptions {
  /** The enabled rules' metadata (tool.driver.rules). */
  rules: readonly RuleMeta[];
  /** `automationDetails.id`; default: `defaultCategory(targets)`. */
  category?: string;
  /** Each rule's documentation page (Markdown), by rule id: `help.markdown`. */
  ruleDocs?: ReadonlyMap<string, string>;
  /** For tests: the results limit. */
  maxResults?: number;
}

type Json = Record<string, unknown>;

export function sarifLevel(s: Severity): 'error' | 'warning' | 'note' {
  return s === 'error' ? 'error' : s === 'warning' ? 'warning' : 'note';
}

/** A relative URI reference for a path inside the image: no leading slash, each segment percent-encoded. */
export function imageUri(findingPath: string): string {
  // `<device>:/path` when filesystems stand alone: the device becomes the first segments.
  const { device, path: rest } = splitFindingPath(findingPath);
  const p = device ? `${device}/${rest}` : rest;
  const segs = p.split('/').filter((s) => s !== '');
  return segs.length === 0 ? '.' : segs.map((s) => encodeURIComponent(s)).join('/');
}

/**
 * A target's name without what changes from build to build or machine to machine: the last two path components
 * only (not the checkout's location), store hashes, version numbers (`24.05.20240601`, `v1.2.3`, `-42`) and
 * commit-like hex strings. `result/disk.raw` stays `result/disk.raw`; `/ci/out/nixos-24.05.1234.abcdef1-x86_64-linux.iso`
 * becomes `out/nixos-x86_64-linux.iso`; `/nix/store/<hash>-nixos-disk-image/nixos.qcow2` becomes
 * `nixos-disk-image/nixos.qcow2`.
 */
export function stableTargetName(target: string): string {
  const parts = stablePath(target).replace(/\/+$/, '').split('/').filter((p) => p !== '' && p !== '.');
  return parts
    .slice(-2)
    .join('/')
    .replace(/(^|\/)\*-/g, '$1')
    .replace(/(?<=[-.])v?\d+(?:\.\d+)+(?:[-.](?:pre|rc|beta|alpha)?\d*)?(?=[-_./]|$)/gi, '')
    .replace(/(?<=[-.])(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{7,40}(?=[-_./]|$)/g, '')
    .replace(/(?<=[-.])\d+(?=[-_./]|$)/g, '')
    .replace(/[-_.]+([-_.])/g, '$1')
    .replace(/[-_.]+(?=\/|$)/g, '')
    .replace(/(^|\/)[-_.]+/g, '$1');
}

/**
 * A finding's fingerprint in one image: its own (what identifies the leak) combined with the image's stable name, so
 * it survives a rebuild and the same leak in two images stays two alerts (SARIF partialFingerprints, GitLab Code
 * Quality).
 */
export function imageFingerprint(target: string, f: Pick<Finding, 'ruleId' | 'path' | 'fingerprint'>): string {
  return nodeCrypto().createHash('sha256').update(`${stableTargetName(target)}\0${fingerprint(f)}`).digest('hex');
}

/** The default category: `hostleak/<stable name>/` for one target, a digest of the sorted names for several. */
export function defaultCategory(targets: readonly string[]): string {
  const names = [...new Set(targets.map(stableTargetName))].sort();
  if (names.length === 0) return 'hostleak/';
  const joined = names.join(',').replace(/[^A-Za-z0-9._+/,-]/g, '_');
  if (joined.length <= 100) return `hostleak/${joined}/`;
  return `hostleak/${names.length}-targets-${nodeCrypto().createHash('sha256').update(names.join('\0')).digest('hex').slice(0, 12)}/`;
}

/** Without a doc page (custom rules): the description and remediation as Markdown. */
function fallbackHelp(meta: RuleMeta): string {
  return `${meta.description}\n\n**How to fix:** ${meta.remediation || meta.description}\n`;
}

function ruleDescriptor(meta: RuleMeta, docs: ReadonlyMap<string, string> | undefined): Json {
  const score = securitySeverity(meta);
  const markdown = docs?.get(meta.id) ?? fallbackHelp(meta);
  const d: Json = {
    id: meta.id,
    name: meta.id.replace(/(^|-)([a-z0-9])/g, (_, __, c: string) => c.toUpperCase()),
    shortDescription: { text: meta.description },
    fullDescription: { text: meta.remediation ? `${meta.description}. ${meta.remediation}` : meta.description },
    help: { text: meta.remediation || meta.description, markdown },
    defaultConfiguration: { level: sarifLevel(meta.severity) },
    properties: {
      tags: ['security', ...meta.tags.filter((t) => t !== 'security')],
      precision: 'high',
      'security-severity': score.toFixed(1),
    },
  };
  const uri = helpUriFor(meta);
  if (uri) d.helpUri = uri;
  return d;
}

function region(f: Finding): Json {
  const r: Json = { startLine: f.line ?? 1 };
  if (f.line !== undefined && f.column !== undefined) {
    r.startColumn = f.column;
    if (f.endColumn !== undefined && f.endColumn > f.column) r.endColumn = f.endColumn;
  }
  return r;
}

function result(t: TargetResult, f: Finding, ruleIndex: number): Json {
  const text = `${f.message} (in ${t.target})`;
  const r: Json = {
    ruleId: f.ruleId,
    ruleIndex,
    level: sarifLevel(f.severity),
    message: { text: f.evidence ? `${text}\nEvidence: ${f.evidence}` : text },
    locations: [
      {
        physicalLocation: {
          artifactLocation: { uri: imageUri(f.path), uriBaseId: URI_BASE_ID },
          region: region(f),
        },
        logicalLocations: [{ fullyQualifiedName: f.path, kind: 'resource' }],
      },
    ],
    partialFingerprints: {
      [FINGERPRINT_KEY]: imageFingerprint(t.target, f),
    },
    properties: {
      target: t.target,
      severity: f.severity,
      path: f.path,
      filesystem: f.filesystem,
      evidence: f.evidence,
      remediation: f.remediation,
      fingerprint: fingerprint(f),
    },
  };
  if (f.suppressed) {
    r.suppressions = [
      {
        kind: 'external',
        status: 'accepted',
        justification: f.suppressed.kind === 'ignore' ? f.suppressed.reason : `in baseline ${f.suppressed.reason}`,
      },
    ];
  }
  return r;
}

function invocation(t: TargetResult): Json {
  const inv: Json = {
    executionSuccessful: t.status === 'ok',
    properties: { target: t.target, status: t.status, error: t.error, backend: t.backend, filesystems: t.filesystems },
  };
  if (t.status !== 'ok') {
    inv.toolExecutionNotifications = [
      {
        level: 'error',
        message: {
          text: `${t.target}: ${t.status === 'failed' ? 'not audited' : 'audited only in part'}: ${t.error ?? 'unknown error'}`,
        },
        descriptor: { id: t.status === 'failed' ? 'target-failed' : 'target-partial' },
      },
    ];
  }
  return inv;
}

export function formatSarif(report: Report, opts: SarifOptions): string {
  const metas = rulesForReport(opts.rules, report.targets.flatMap((t) => t.findings));
  const index = new Map(metas.map((m, i) => [m.id, i]));
  const score = new Map(metas.map((m) => [m.id, securitySeverity(m)]));
  const all = report.targets.flatMap((t) => t.findings.map((f) => ({ t, f })));
  const max = opts.maxResults ?? MAX_RESULTS;
  let kept = all;
  if (all.length > max) {
    // Keep what matters most: counting findings before suppressed ones, then by severity and security-severity.
    kept = [...all]
      .sort(
        (a, b) =>
          Number(Boolean(a.f.suppressed)) - Number(Boolean(b.f.suppressed)) ||
          SEVERITY_RANK[b.f.severity] - SEVERITY_RANK[a.f.severity] ||
          (score.get(b.f.ruleId) ?? 0) - (score.get(a.f.ruleId) ?? 0),
      )
      .slice(0, max);
  }
  const invocations = report.targets.map(invocation);
  if (kept.length < all.length) {
    const first = (invocations[0] ??= { executionSuccessful: true }) as Json;
    const notes = (first.toolExecutionNotifications as Json[] | undefined) ?? [];
    notes.push({
      level: 'warning',
      message: {
        text:
          `${all.length - kept.length} of ${all.length} results left out: code scanning accepts ${max} per run. ` +
          'The most severe are kept; the JSON report lists every finding.',
      },
      descriptor: { id: 'results-truncated' },
    });
    first.toolExecutionNotifications = notes;
  }
  const targets = report.targets.map((t) => t.target);
  const run: Json = {
    tool: {
      driver: {
        name: 'hostleak',
        version: report.tool.version,
        semanticVersion: report.tool.version,
        informationUri: REPOSITORY_URL,
        rules: metas.map((m) => ruleDescriptor(m, opts.ruleDocs)),
      },
    },
    automationDetails: {
      id: opts.category ?? defaultCategory(targets),
      description: { text: `hostleak audit of ${targets.length === 1 ? targets[0] : `${targets.length} targets`}` },
    },
    originalUriBaseIds: {
      [URI_BASE_ID]: {
        description: {
          text: 'Paths inside the audited image (each result names its image): not files of this repository or the host.',
        },
      },
    },
    invocations,
    columnKind: 'unicodeCodePoints',
    properties: {
      targets: report.targets.map((t) => ({ target: t.target, status: t.status, error: t.error, backend: t.backend })),
      resultsTotal: all.length,
      resultsIncluded: kept.length,
    },
    results: kept.map(({ t, f }) => result(t, f, index.get(f.ruleId)!)),
  };
  const log = { $schema: SARIF_SCHEMA_URI, version: '2.1.0', runs: [run] };
  return JSON.stringify(log, null, 2) + '\n';
}
