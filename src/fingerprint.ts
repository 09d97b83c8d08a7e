/**
 * One fingerprint per finding, shared by baselines and SARIF `partialFingerprints`.
 *
 * It is the rule id, the path inside the image and a hash of the (already redacted) evidence, and nothing else: not
 * the image's file name, not the message wording, not the severity. So it survives a rebuild of the image under a
 * new name, a config change of the rule's severity, and a rewording of messages between hostleak versions.
 */
import { createHash } from 'node:crypto';
import type { Finding } from './types.js';

/** Bumped only if the recipe below changes (baselines and code-scanning alerts would all reopen). */
export const FINGERPRINT_VERSION = 1;

function sha256(s: string): string {
  return createHash('sha256').update(s, 'utf8').digest('hex');
}

export function evidenceHash(evidence: string | null): string {
  return sha256(evidence ?? '');
}

/** Hex sha256 over `v1 \0 ruleId \0 path \0 sha256(evidence)`. */
export function fingerprint(f: Pick<Finding, 'ruleId' | 'path' | 'evidence'>): string {
  return sha256(`v${FINGERPRINT_VERSION}\0${f.ruleId}\0${f.path}\0${evidenceHash(f.evidence)}`);
}
