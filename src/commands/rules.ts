/** `hostleak rules`: every rule (built-in and from --rules-dir) with its default severity. */
import { EXIT_OK } from '../exit.js';
import { prepareGate, type CommandContext, type RunResult } from './context.js';

export async function rulesCommand(ctx: CommandContext): Promise<RunResult> {
  const gate = await prepareGate(ctx);
  const rules = gate.registry.all();
  const w = Math.max(...rules.map((r) => r.meta.id.length));
  const lines = rules.map((r) => `${r.meta.id.padEnd(w)}  ${r.meta.severity.padEnd(7)}  ${r.meta.description}`);
  return { exitCode: EXIT_OK, stdout: lines.join('\n') + '\n', stderr: '' };
}
