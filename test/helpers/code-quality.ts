/**
 * GitLab's documented Code Quality report format (docs.gitlab.com, ci/testing/code_quality, "Code Quality report
 * format"): a JSON array of issues, each with description, check_name, fingerprint, severity (info, minor, major,
 * critical, blocker), location.path (relative, no leading slash or ./) and location.lines.begin.
 */
import { Ajv, type ValidateFunction } from 'ajv';

/** GitLab's documented Code Quality format: a JSON array of issues with these fields. */
export const CODE_QUALITY_SCHEMA = {
  type: 'array',
  items: {
    type: 'object',
    required: ['description', 'check_name', 'fingerprint', 'severity', 'location'],
    properties: {
      description: { type: 'string', minLength: 1 },
      check_name: { type: 'string', minLength: 1 },
      fingerprint: { type: 'string', minLength: 1 },
      severity: { enum: ['info', 'minor', 'major', 'critical', 'blocker'] },
      location: {
        type: 'object',
        required: ['path', 'lines'],
        properties: {
          // Relative to the project: no leading slash, no `./`.
          path: { type: 'string', minLength: 1, not: { pattern: '^(/|\\./)' } },
          lines: {
            type: 'object',
            required: ['begin'],
            properties: { begin: { type: 'integer', minimum: 1 } },
          },
        },
      },
    },
  },
};

export function codeQualityValidator(): ValidateFunction {
  return new Ajv({ allErrors: true, strict: true }).compile(CODE_QUALITY_SCHEMA);
}
