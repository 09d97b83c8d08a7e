/** The SARIF 2.1.0 schema (test/fixtures/sarif-schema-2.1.0.json) as a validator. */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import Ajv4Module from 'ajv-draft-04';
import addFormatsModule from 'ajv-formats';
import { REPO_ROOT } from './gate.js';

const SCHEMA_PATH = path.resolve(REPO_ROOT, 'test', 'fixtures', 'sarif-schema-2.1.0.json');

// CommonJS default exports seen from ESM under NodeNext.
const Ajv4 = ((Ajv4Module as unknown as { default?: unknown }).default ?? Ajv4Module) as typeof Ajv4Module.default;
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as typeof addFormatsModule.default;

export function sarifValidator() {
  if (!existsSync(SCHEMA_PATH)) throw new Error(`SARIF schema missing at ${SCHEMA_PATH}`);
  const ajv = new Ajv4({ allErrors: true, strict: false });
  addFormats(ajv);
  return ajv.compile(JSON.parse(readFileSync(SCHEMA_PATH, 'utf8')));
}
