import type { Command } from 'commander';

/** Commands and their long options, read from the program itself so completions never drift. */
function describe(program: Command): Array<{ path: string[]; options: string[] }> {
  const out: Array<{ path: string[]; options: string[] }> = [];
  const walk = (cmd: Command, path: string[]) => {
    out.push({ path, options: cmd.options.map((o) => o.long).filter((o): o is string => Boolean(o)) });
    for (const sub of cmd.commands) walk(sub, [...path, sub.name()]);
  };
  walk(program, []);
  return out;
}

const words = (xs: string[]) => xs.join(' ');

export function bashCompletion(program: Command): string {
  const entries = describe(program);
  const cases = entries
    .map((e) => {
      const subs = entries.filter((x) => x.path.length === e.path.length + 1 && e.path.every((p, i) => x.path[i] === p)).map((x) => x.path.at(-1)!);
      return `    "${e.path.join(' ')}") opts="${words([...subs, ...e.options, '--help'])}" ;;`;
    })
    .join('\n');
  // Only words that extend a known command path count: option values and arguments
  // (`config set --app api KEY=VALUE`) are skipped, so completion still knows where it is.
  const known = `:${entries.map((e) => e.path.join(' ')).join(':')}:`;
  return `# bash completion for aether. Install: aether completions --shell bash > /etc/bash_completion.d/aether
_aether_complete() {
  local cur path next opts i
  local known="${known}"
  cur="\${COMP_WORDS[COMP_CWORD]}"
  path=""
  for ((i = 1; i < COMP_CWORD; i++)); do
    next="\${path:+$path }\${COMP_WORDS[i]}"
    if [[ "$known" == *":$next:"* ]]; then path="$next"; fi
  done
  case "$path" in
${cases}
    *) opts="" ;;
  esac
  COMPREPLY=( $(compgen -W "$opts" -- "$cur") )
}
complete -o default -F _aether_complete aether
`;
}

export function zshCompletion(program: Command): string {
  return `#compdef aether
# zsh completion for aether. Install: aether completions --shell zsh > "\${fpath[1]}/_aether"
autoload -U bashcompinit && bashcompinit
${bashCompletion(program)}`;
}

export function fishCompletion(program: Command): string {
  const lines = ['# fish completion for aether. Install: aether completions --shell fish > ~/.config/fish/completions/aether.fish'];
  for (const e of describe(program)) {
    const cond = e.path.length === 0 ? '__fish_use_subcommand' : `__fish_seen_subcommand_from ${e.path.at(-1)}`;
    const subs = describe(program).filter((x) => x.path.length === e.path.length + 1 && e.path.every((p, i) => x.path[i] === p));
    for (const s of subs) lines.push(`complete -c aether -f -n '${cond}' -a '${s.path.at(-1)}'`);
    for (const o of e.options) lines.push(`complete -c aether -n '${cond}' -l '${o.replace(/^--/, '')}'`);
  }
  return `${lines.join('\n')}\n`;
}
