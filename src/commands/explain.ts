/** `hostleak explain RULE`: the rule's doc page (docs/rules/<id>.md), or its metadata when there is none. */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { Registry } from '../engine/runtime/registry.js';
import { UsageError } from '../errors.js';
import { EXIT_OK } from '../exit.js';
import { DOCS_RULES_DIR } from '../paths.js';
import { builtinRules } from '../../rules/index.js';
import type { CommandContext, RunResult } from './context.js';

export async function explainCommand(ctx: CommandContext): Promise<RunResult> {
  const id = String(ctx.args.rule);
  const rule = new Registry(builtinRules).get(id);
  if (!rule) throw new UsageError(`unknown rule '${id}'; 'hostleak rules' lists them`);
  let doc: string;
  try {
    doc = await fsp.readFile(path.join(DOCS_RULES_DIR, `${id}.md`), 'utf8');
  } catch {
    doc = `# ${id}\n\n${rule.meta.description}\n\nHow to fix: ${rule.meta.remediation}\n`;
  }
  return { exitCode: EXIT_OK, stdout: doc.endsWith('\n') ? doc : doc + '\n', stderr: '' };
}
