/** JSON-schema validation of user files (config, declarative rules) with one-line errors that name the field. */
import type { Ajv as AjvClass, ErrorObject, SchemaObject, ValidateFunction } from 'ajv';
import { ajv as ajvModule } from '../../lazy.js';
import { suggest } from '../../words.js';

// Loaded on first use: only config files and declarative rules are validated, and ajv costs start-up time.
let ajvInstance: AjvClass | null = null;
function ajv(): AjvClass {
  if (!ajvInstance) {
    const { Ajv } = ajvModule();
    ajvInstance = new Ajv({ allErrors: false, strict: true, allowUnionTypes: true, verbose: true });
  }
  return ajvInstance;
}
const compiled = new WeakMap<SchemaObject, ValidateFunction>();

/** `/ignore/0/reason` -> `ignore[0].reason`; the root is `(top level)`. */
export function fieldName(pointer: string): string {
  if (pointer === '') return '(top level)';
  let out = '';
  for (const raw of pointer.slice(1).split('/')) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (/^\d+$/.test(seg)) out += `[${seg}]`;
    else out += out === '' ? seg : `.${seg}`;
  }
  return out;
}

export interface SchemaProblem {
  field: string;
  message: string;
}

function describe(e: ErrorObject): SchemaProblem {
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'required':
      return { field: fieldName(`${e.instancePath}/${String(p.missingProperty)}`), message: 'is required' };
    case 'additionalProperties': {
      // ajv's verbose mode hands the object's schema: its fields are what a misspelt key may have meant.
      const known = Object.keys((e.parentSchema as { properties?: Record<string, unknown> } | undefined)?.properties ?? {});
      const s = suggest(String(p.additionalProperty), known);
      return {
        field: fieldName(`${e.instancePath}/${String(p.additionalProperty)}`),
        message: `is not a known field${s ? `: did you mean ${s}?` : known.length > 0 ? ` (fields: ${known.join(', ')})` : ''}`,
      };
    }
    case 'enum':
      return {
        field: fieldName(e.instancePath),
        message: `must be one of ${(p.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`,
      };
    default:
      return { field: fieldName(e.instancePath), message: e.message ?? 'is not valid' };
  }
}

/**
 * Validate `data` against `schema`; returns the first problem, or null. `hints` maps a field pattern to a plainer
 * message used when the error is at or below that field (for unions, where ajv's own message says little).
 */
export function validate(
  schema: SchemaObject,
  data: unknown,
  hints: Array<{ field: RegExp; message: string }> = [],
): SchemaProblem | null {
  let fn = compiled.get(schema);
  if (!fn) compiled.set(schema, (fn = ajv().compile(schema)));
  if (fn(data)) return null;
  const errors = fn.errors ?? [];
  const first = errors[0];
  if (!first) return { field: '(top level)', message: 'is not valid' };
  const problem = describe(first);
  for (const h of hints) {
    const m = h.field.exec(fieldName(first.instancePath));
    if (m) return { field: m[0], message: h.message };
  }
  return problem;
}
