/**
 * `hostleak completion [bash|zsh|fish]`: a completion script for the shell, and what it completes. Every script asks
 * hostleak itself (`hostleak --get-yargs-completions WORDS...`), so the commands, flags, choices and rule ids it
 * offers are always those of the installed version.
 */
import path from 'node:path';
import { UsageError } from '../errors.js';
import { EXIT_OK } from '../exit.js';
import type { RunResult } from './context.js';

export const SHELLS = ['bash', 'zsh', 'fish'] as const;
type Shell = (typeof SHELLS)[number];

const BASH = `###-begin-hostleak-completions-###
# hostleak completion for bash: add to ~/.bashrc (hostleak completion bash >> ~/.bashrc)
_hostleak_yargs_completions()
{
    local cur_word type_list
    cur_word="\${COMP_WORDS[COMP_CWORD]}"
    type_list=$(hostleak --get-yargs-completions "\${COMP_WORDS[@]:0:COMP_CWORD+1}" 2>/dev/null)
    COMPREPLY=( $(compgen -W "\${type_list}" -- "\${cur_word}") )
    return 0
}
complete -o bashdefault -o default -F _hostleak_yargs_completions hostleak
###-end-hostleak-completions-###
`;

const ZSH = `#compdef hostleak
# hostleak completion for zsh: save as _hostleak in a folder of $fpath, or source it from ~/.zshrc
_hostleak() {
  local -a reply
  reply=("\${(@f)$(hostleak --get-yargs-completions "\${words[@]:0:$CURRENT}" 2>/dev/null)}")
  reply=("\${(@)reply:#}")
  if (( \${#reply} )); then
    _describe 'hostleak' reply
  else
    _files
  fi
}
if [[ "\${zsh_eval_context[-1]}" == loadautofunc ]]; then
  _hostleak "$@"
else
  compdef _hostleak hostleak
fi
`;

const FISH = `# hostleak completion for fish: hostleak completion fish > ~/.config/fish/completions/hostleak.fish
function __hostleak_complete
    hostleak --get-yargs-completions (commandline -opc) (commandline -ct) 2>/dev/null
end
complete -c hostleak -a '(__hostleak_complete)'
`;

/** The script for `shell` (default: the login shell's name, else bash). */
export function completionCommand(argv: string[], env: NodeJS.ProcessEnv): RunResult {
  const given = argv[1] ?? path.basename(env.SHELL ?? '');
  const shell = ((SHELLS as readonly string[]).includes(given) ? given : argv[1] === undefined ? 'bash' : null) as Shell | null;
  if (!shell || argv.length > 2) throw new UsageError(`completion takes one of ${SHELLS.join(', ')}, not '${argv.slice(1).join(' ')}'`);
  return { exitCode: EXIT_OK, stdout: { bash: BASH, zsh: ZSH, fish: FISH }[shell], stderr: '' };
}

/**
 * yargs' completions, refined: no one-letter aliases spelt as long flags (`--v` for `-v`), and the rule ids after
 * `explain` (`ruleIds`: the caller loads them only when completing after `explain`). `words` are the command line's
 * words after the program name, the last one being completed.
 */
export function refineCompletions(completions: string[], words: string[], ruleIds: readonly string[]): string[] {
  const current = words[words.length - 1] ?? '';
  // Under zsh, yargs adds descriptions: `--v:print phases ...`.
  const out = completions.filter((c) => !/^--[a-zA-Z](?::|$)/.test(c));
  const command = words.find((w) => !w.startsWith('-'));
  if (words.length === 2 && !current.startsWith('-')) {
    if (command === 'explain') return ruleIds.filter((id) => id.startsWith(current));
    if (command === 'completion') return SHELLS.filter((s) => s.startsWith(current));
  }
  return out;
}
