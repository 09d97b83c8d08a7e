/**
 * `hostleak rules`: every rule (built-in and from --rules-dir) with its default severity; `--format json` gives the
 * metadata other tools need (versioned): id, default and configured severity, whether it is enabled, tags,
 * description, remediation, references, documentation URL and code scanning's security-severity.
 */
import { EXIT_OK } from '../exit.js';
import { helpUriFor } from '../reporters/rule-docs.js';
import { securitySeverity } from '../reporters/security.js';
import { prepareGate, type CommandContext, type RunResult } from './context.js';

export async function rulesCommand(ctx: CommandContext): Promise<RunResult> {
  const gate = await prepareGate(ctx);
  const rules = gate.registry.all();
  if (ctx.args.format === 'json') {
    const enabled = new Map(gate.rules.map((r) => [r.rule.meta.id, r.severity]));
    const out = {
      version: 1,
      rules: rules.map(({ meta, definition }) => ({
        id: meta.id,
        severity: meta.severity,
        enabled: enabled.has(meta.id),
        configuredSeverity: enabled.get(meta.id) ?? null,
        tags: meta.tags,
        description: meta.description,
        remediation: meta.remediation,
        references: meta.references ?? [],
        helpUri: helpUriFor(meta),
        securitySeverity: securitySeverity(meta),
        source: definition === undefined ? 'builtin' : 'rules-dir',
      })),
    };
    return { exitCode: EXIT_OK, stdout: JSON.stringify(out, null, 2) + '\n', stderr: '' };
  }
  const w = Math.max(...rules.map((r) => r.meta.id.length));
  const lines = rules.map((r) => `${r.meta.id.padEnd(w)}  ${r.meta.severity.padEnd(7)}  ${r.meta.description}`);
  return { exitCode: EXIT_OK, stdout: lines.join('\n') + '\n', stderr: '' };
}
