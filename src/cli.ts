/**
 * The command line: the parser and the dispatch, nothing else. `run(argv)` returns what to print and the exit code,
 * so the CLI is testable without a process; src/bin/hostleak.ts only wires it to the real process. Each command's
 * handler is in src/commands/<command>.ts; the option precedence they share is in src/commands/context.ts.
 */
import type { Argv } from 'yargs';
import { yargs as yargsModule } from './lazy.js';
import { fastScanArgs, SCAN_OPTIONS, TARGET_OPTIONS } from './cli-options.js';
import { examples, missingArgumentsMessage, suggest, unknownArgumentsMessage } from './cli-support.js';
import type { Command, Parsed, RunIO, RunResult } from './commands/context.js';
import { completionCommand, refineCompletions } from './commands/completion.js';
import { HostleakError, UsageError } from './errors.js';
import { EXIT_OK, EXIT_USAGE, exitCodeOf, FAIL_ON_VALUES } from './exit.js';
import { VERSION } from './paths.js';
import { FORMATS, INVENTORY_FORMATS } from './types.js';

export type { Parsed, RunIO, RunResult };

// yargs' CommonJS build, loaded by the first parse (src/lazy.ts).
const yargs = () => yargsModule()();

function targetOptions(y: Argv): Argv {
  return y.options(TARGET_OPTIONS);
}

function parser(ruleIds: readonly string[] = []): Argv {
  return yargs()
    .scriptName('hostleak')
    .usage('$0 <command> [options]\n\nAudit built OS disk images for artifacts leaked from the machine that built them.')
    .command('scan [targets..]', 'audit images or root trees', (y) =>
      targetOptions(examples('scan', y))
        .positional('targets', { type: 'string', array: true, describe: 'disk images, archives, URLs or root-tree directories' })
        .options(SCAN_OPTIONS),
    )
    .command('convert <report>', 'render a saved JSON report in another format', (y) =>
      examples('convert', y)
        .positional('report', { type: 'string', describe: 'a report written with --format json' })
        .option('format', { alias: 'f', choices: FORMATS as string[], demandOption: true, describe: 'report format' })
        .option('output', { alias: 'o', type: 'string', describe: 'write the report to FILE instead of stdout' })
        .option('sarif-category', {
          type: 'string',
          describe: 'SARIF automationDetails.id (code-scanning category; default: from the target names, without versions)',
        })
        .option('fail-on', {
          choices: FAIL_ON_VALUES as string[],
          describe: 'the gate the JUnit report mirrors: findings below it are not failures (default: error, or the config)',
        })
        .option('color', { type: 'boolean', describe: 'colour the text report' })
        .option('config', { alias: 'c', type: 'string', describe: 'config file (rule settings for rule metadata)' })
        .option('history', { type: 'string', requiresArg: true, describe: 'html: draw the trend across the earlier JSON reports in DIR' })
        .option('rules-dir', { type: 'string', describe: 'declarative rules the report may name' }),
    )
    .command('merge <reports..>', 'combine JSON or jsonl reports (shards) into one', (y) =>
      examples('merge', y)
        .positional('reports', { type: 'string', array: true })
        .option('format', { alias: 'f', choices: FORMATS as string[], default: 'json' })
        .option('output', { alias: 'o', type: 'string' })
        .option('sarif-category', {
          type: 'string',
          describe: 'SARIF automationDetails.id (code-scanning category; default: from the target names, without versions)',
        })
        .option('fail-on', { choices: FAIL_ON_VALUES as string[], describe: 'default: error, or the config' })
        .option('color', { type: 'boolean' })
        .option('config', { alias: 'c', type: 'string', describe: 'config file (rule metadata)' })
        .option('history', { type: 'string', requiresArg: true, describe: 'html: draw the trend across the earlier JSON reports in DIR' })
        .option('rules-dir', { type: 'string', describe: 'declarative rules the reports may name' }),
    )
    .command('ls <target> [path]', 'list entries inside an image, like ls / virt-ls', (y) =>
      targetOptions(examples('ls', y))
        .positional('target', { type: 'string', describe: 'disk image or root tree' })
        .positional('path', { type: 'string', default: '/', describe: 'path inside the image' })
        .option('long', { alias: 'l', type: 'boolean', default: false, describe: 'mode, owner, group, size, mtime, link target' })
        .option('recursive', { alias: 'R', type: 'boolean', default: false, describe: 'list subdirectories too (full paths)' }),
    )
    .command('cat <target> <path>', "print a file's contents, symlinks resolved inside the image", (y) =>
      targetOptions(examples('cat', y))
        .positional('target', { type: 'string' })
        .positional('path', { type: 'string' })
        .option('force', { type: 'boolean', default: false, describe: 'write binary data to a terminal anyway' }),
    )
    .command('inventory <target>', 'every entry of an image, one per line', (y) =>
      targetOptions(examples('inventory', y))
        .positional('target', { type: 'string' })
        .option('format', { alias: 'f', choices: INVENTORY_FORMATS as unknown as string[], default: 'jsonl' }),
    )
    .command('diff <old> <new>', 'compare two builds: entries and findings', (y) =>
      targetOptions(examples('diff', y))
        .positional('old', { type: 'string' })
        .positional('new', { type: 'string' })
        .option('format', { alias: 'f', choices: ['text', 'json'], default: 'text' })
        .option('fail-on', { choices: FAIL_ON_VALUES as string[], describe: 'exit 1 on new findings at or above (default: error, or the config)' })
        .option('color', { type: 'boolean', describe: 'colour the text output (--no-color to disable)' })
        .option('rules-dir', { type: 'string', describe: 'load declarative YAML rules from DIR (repeatable)' }),
    )
    .command('rules', 'list the rules with their default severity', (y) =>
      examples('rules', y)
        .option('config', { alias: 'c', type: 'string', describe: 'config file' })
        .option('rules-dir', { type: 'string', describe: 'also list (and validate) declarative rules' })
        .option('format', { alias: 'f', choices: ['text', 'json'], default: 'text', describe: 'text table or JSON metadata' }),
    )
    .command('doctor', 'check that libguestfs works here (kernel, KVM or TCG) and time one appliance launch', (y) =>
      examples('doctor', y),
    )
    .completion('completion', 'print a shell completion script: completion [bash|zsh|fish] (default: $SHELL)', (
      current: string,
      argv: { _: Array<string | number> },
      defaults: (onCompleted: (err: Error | null, list: string[] | undefined) => void) => void,
      done: (list: string[]) => void,
    ) => {
      const words = argv._.slice(1).map(String);
      if (words[words.length - 1] !== current) words.push(current);
      defaults((_err, list) => done(refineCompletions(list ?? [], words, ruleIds)));
    })
    .command('explain <rule>', "print a rule's documentation", (y) =>
      examples('explain', y).positional('rule', { type: 'string', describe: 'rule id' }),
    )
    .demandCommand(1, 'name a command: scan, convert, merge, ls, cat, inventory, diff, rules, doctor or explain')
    .strict()
    .help()
    .alias('h', 'help')
    .version(VERSION)
    .wrap(Math.min(110, process.stdout.columns || 100))
    .exitProcess(false);
}

export function parse(argv: string[], ruleIds: readonly string[] = []): Promise<{ args?: Parsed; output: string; error?: Error }> {
  return new Promise((resolve) => {
    // Shell completion (`hostleak --get-yargs-completions ...`, from the `completion` script) calls back twice; the
    // call that carries the completions is the one with the flag among its arguments.
    const completing = argv.includes('--get-yargs-completions');
    parser(ruleIds).parse(argv, {}, (error: Error | undefined, args: unknown, output: string) => {
      if (completing && !error && (args as Parsed)['get-yargs-completions'] === undefined) return;
      resolve({ args: args as Parsed, output: completing ? output.replace(/\n*$/, '\n') : output, error: error ?? undefined });
    });
  });
}

/** yargs' message, with "did you mean" for a mistyped command, flag or choice. */
async function explainParseError(error: Error, argv: string[]): Promise<string> {
  const unknown = /^Unknown arguments?: (.+)$/.exec(error.message);
  if (unknown) {
    const flags = new Map<string, string[]>();
    for (const c of [null, ...Object.keys(COMMANDS)]) {
      const help = (await parse(c ? [c, '--help'] : ['--help'])).output;
      flags.set(String(c), [...new Set([...help.matchAll(/--([a-z][a-z-]*)/g)].map((m) => m[1]!))]);
    }
    const words = unknown[1]!.split(', ');
    return unknownArgumentsMessage(words, argv, [...Object.keys(COMMANDS), 'completion'], (c) => flags.get(String(c)) ?? []);
  }
  const missing = missingArgumentsMessage(error.message, argv);
  if (missing) return missing;
  const choice = /Argument: ([a-z-]+), Given: "([^"]*)", Choices: (.*)$/s.exec(error.message);
  if (choice) {
    const choices = [...choice[3]!.matchAll(/"([^"]*)"/g)].map((m) => m[1]!);
    const s = suggest(choice[2]!, choices);
    return `--${choice[1]} '${choice[2]}' is not one of ${choices.join(', ')}${s ? `: did you mean ${s}?` : ''}`;
  }
  return error.message;
}

/**
 * Each command's module is loaded when it runs: `hostleak --help` or `rules` does not pay for the readers, the rule
 * engine and the reporters a scan needs (start-up is part of every CI step; docs/performance.md measures it).
 */
const COMMANDS: Record<string, () => Promise<Command>> = {
  scan: async () => (await import('./commands/scan.js')).scanCommand,
  convert: async () => (await import('./commands/convert.js')).convertCommand,
  merge: async () => (await import('./commands/merge.js')).mergeCommand,
  ls: async () => (await import('./commands/ls.js')).lsCommand,
  cat: async () => (await import('./commands/cat.js')).catCommand,
  inventory: async () => (await import('./commands/inventory-cmd.js')).inventoryCommand,
  diff: async () => (await import('./commands/diff.js')).diffCommand,
  rules: async () => (await import('./commands/rules.js')).rulesCommand,
  doctor: async () => (await import('./commands/doctor.js')).doctorCommand,
  explain: async () => (await import('./commands/explain.js')).explainCommand,
};

export async function run(argv: string[], io: RunIO = {}): Promise<RunResult> {
  const env = io.env ?? process.env;
  // The one answer that needs no parser (a CI step's `hostleak --version` is start-up alone).
  if (argv.length === 1 && argv[0] === '--version') return { exitCode: EXIT_OK, stdout: `${VERSION}\n`, stderr: '' };
  // Its own command: yargs' `completion` knows bash and zsh, and takes no shell name.
  if (argv[0] === 'completion' && !argv.includes('--help') && !argv.includes('-h')) {
    try {
      return completionCommand(argv, env);
    } catch (err) {
      if (err instanceof HostleakError) return { exitCode: exitCodeOf(err), stdout: '', stderr: `hostleak: ${err.message}\n` };
      throw err;
    }
  }
  // Completing a word after `explain` offers the rule ids: only then are the rules loaded.
  const ruleIds =
    argv.includes('--get-yargs-completions') && argv.includes('explain')
      ? (await import('../rules/index.js')).builtinRules.map((r) => r.meta.id)
      : [];
  const fast = fastScanArgs(argv);
  const { args, output, error } = fast ? { args: fast, output: '', error: undefined } : await parse(argv, ruleIds);
  if (error) {
    return { exitCode: EXIT_USAGE, stdout: '', stderr: `hostleak: ${await explainParseError(error, argv)}\nRun 'hostleak --help' for usage.\n` };
  }
  if (!args) return { exitCode: EXIT_USAGE, stdout: '', stderr: 'hostleak: cannot parse arguments\n' };
  if (argv.includes('--get-yargs-completions')) return { exitCode: EXIT_OK, stdout: output, stderr: '' };
  if (output) return { exitCode: EXIT_OK, stdout: output + '\n', stderr: '' };
  try {
    const name = String(args._[0]);
    const load = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
    if (!load) throw new UsageError(`unknown command '${args._[0]}'`);
    const command = await load();
    return await command({ args, io, env, cwd: io.cwd ?? process.cwd() });
  } catch (err) {
    // An error of the model is one line and its exit code; anything else is a bug (the bin reports it).
    if (err instanceof HostleakError) return { exitCode: exitCodeOf(err), stdout: '', stderr: `hostleak: ${err.message}\n` };
    throw err;
  }
}
