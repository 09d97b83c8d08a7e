/**
 * SARIF 2.1.0, shaped for GitHub code scanning:
 * - one run per target; the image's identity is in `automationDetails.id` (the code-scanning category) and in run
 *   `properties`, never in a URI;
 * - every result has a physical location whose `artifactLocation.uri` is the path inside the image without the
 *   leading slash, relative to the `IMAGEROOT` uriBaseId;
 * - `partialFingerprints` use the same fingerprint as baselines (rule id, path, hash of the redacted evidence), so an
 *   alert survives a rebuild of the image;
 * - levels: error -> error, warning -> warning, info -> note;
 * - a target that failed or was only partly read shows as `executionSuccessful: false` with an error notification.
 */
import path from 'node:path';
import { fingerprint, FINGERPRINT_VERSION } from '../fingerprint.js';
import { splitFindingPath } from '../finding-path.js';
import type { Finding, Report, RuleMeta, Severity, TargetResult } from '../types.js';
import { helpUriFor, REPOSITORY_URL, rulesForReport } from './rule-docs.js';

export const SARIF_SCHEMA_URI = 'https://json.schemastore.org/sarif-2.1.0.json';
export const URI_BASE_ID = 'IMAGEROOT';
export const FINGERPRINT_KEY = `hostleak/v${FINGERPRINT_VERSION}`;

export interface SarifOptions {
  /** The enabled rules' metadata (tool.driver.rules). */
  rules: readonly RuleMeta[];
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

/** `hostleak/<image file name>/`: the category code scanning keeps alerts apart by; unique per run in one log. */
export function categoryFor(target: string, taken: Set<string>): string {
  const base = path.basename(target.replace(/\/+$/, '')) || 'root';
  const clean = base.replace(/[^A-Za-z0-9._+-]/g, '_');
  let id = `hostleak/${clean}/`;
  for (let n = 2; taken.has(id); n++) id = `hostleak/${clean}-${n}/`;
  taken.add(id);
  return id;
}

function ruleDescriptor(meta: RuleMeta): Json {
  const d: Json = {
    id: meta.id,
    name: meta.id.replace(/(^|-)([a-z0-9])/g, (_, __, c: string) => c.toUpperCase()),
    shortDescription: { text: meta.description },
    fullDescription: { text: meta.description },
    help: {
      text: meta.remediation || meta.description,
      markdown: `**How to fix:** ${meta.remediation || meta.description}`,
    },
    defaultConfiguration: { level: sarifLevel(meta.severity) },
    properties: { tags: [...meta.tags], precision: 'high' },
  };
  const uri = helpUriFor(meta);
  if (uri) d.helpUri = uri;
  return d;
}

function result(f: Finding, ruleIndex: number): Json {
  const r: Json = {
    ruleId: f.ruleId,
    ruleIndex,
    level: sarifLevel(f.severity),
    message: { text: f.evidence ? `${f.message}\nEvidence: ${f.evidence}` : f.message },
    locations: [
      {
        physicalLocation: {
          artifactLocation: { uri: imageUri(f.path), uriBaseId: URI_BASE_ID },
          region: { startLine: 1 },
        },
        logicalLocations: [{ fullyQualifiedName: f.path, kind: 'resource' }],
      },
    ],
    partialFingerprints: { [FINGERPRINT_KEY]: fingerprint(f) },
    properties: {
      severity: f.severity,
      path: f.path,
      filesystem: f.filesystem,
      evidence: f.evidence,
      remediation: f.remediation,
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

function run(t: TargetResult, rules: readonly RuleMeta[], version: string, category: string): Json {
  const metas = rulesForReport(rules, t.findings);
  const index = new Map(metas.map((m, i) => [m.id, i]));
  const notifications: Json[] = [];
  if (t.status !== 'ok') {
    notifications.push({
      level: 'error',
      message: { text: `${t.target}: ${t.status === 'failed' ? 'not audited' : 'audited only in part'}: ${t.error ?? 'unknown error'}` },
      descriptor: { id: t.status === 'failed' ? 'target-failed' : 'target-partial' },
    });
  }
  const invocation: Json = {
    executionSuccessful: t.status === 'ok',
    properties: { status: t.status, error: t.error, backend: t.backend },
  };
  if (notifications.length > 0) invocation.toolExecutionNotifications = notifications;
  return {
    tool: {
      driver: {
        name: 'hostleak',
        version,
        semanticVersion: version,
        informationUri: REPOSITORY_URL,
        rules: metas.map(ruleDescriptor),
      },
    },
    automationDetails: { id: category, description: { text: `hostleak audit of ${t.target}` } },
    originalUriBaseIds: {
      [URI_BASE_ID]: { description: { text: 'The root of the audited image (paths inside the image, not on the host).' } },
    },
    invocations: [invocation],
    columnKind: 'unicodeCodePoints',
    properties: {
      target: t.target,
      status: t.status,
      error: t.error,
      backend: t.backend,
      filesystems: t.filesystems,
    },
    results: t.findings.map((f) => result(f, index.get(f.ruleId)!)),
  };
}

export function formatSarif(report: Report, opts: SarifOptions): string {
  const taken = new Set<string>();
  const log = {
    $schema: SARIF_SCHEMA_URI,
    version: '2.1.0',
    runs: report.targets.map((t) => run(t, opts.rules, report.tool.version, categoryFor(t.target, taken))),
  };
  return JSON.stringify(log, null, 2) + '\n';
}
