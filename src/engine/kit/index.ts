/**
 * The rule kit: the one import path for rules (built-in ones in rules/, and anyone writing a new one). Everything a
 * rule needs is here: `defineRule` and the rule contract, the path helpers, the shared text pass, homes, residue,
 * redaction, secrets, package ownership, aggregation and the could-not-judge convention. A rule imports nothing
 * else from src/ (test/structure/layers.test.ts checks it); docs/writing-rules.md walks through writing one.
 */
export * from './rule.js';
export * from './aggregate.js';
export * from './buildpaths.js';
export * from './example-secrets.js';
export * from './homes.js';
export * from './identity.js';
export * from './packages.js';
export * from './redact.js';
export * from './residue.js';
export * from './secrets.js';
export * from './url-credentials.js';
export * from './pkcs12.js';
export * from './text.js';
export * from './location.js';
/** Fingerprint keys for secrets (kind + value hash): a rotated secret is a new finding. `sha256` is their hash. */
export { secretKey, secretsKey, sha256 } from '../../fingerprint.js';
export { baseName, describeFailure, joinPath, normalizePath, parentOf, type Inventory, type ResolveResult } from '../../inventory.js';
export type { Entry, EntryType, HostIdentity, Severity } from '../../types.js';
export type { Accounts } from './image.js';
export * from './entries.js';
