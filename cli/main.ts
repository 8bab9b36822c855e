import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import type { LifecycleVerb } from './commands/lifecycle';
import type { CliEnv } from './config';
import { EXIT, toCliError } from './errors';
import { createOutput, holdJson, type LogFormat, type LogLevel, type Output } from './output';

declare const AETHER_CLI_VERSION: string;
const VERSION = typeof AETHER_CLI_VERSION === 'string' ? AETHER_CLI_VERSION : '0.0.0-dev';

type Format = 'text' | 'json';
export type Run = (fn: (out: Output) => Promise<number>) => Promise<void>;

function intArg(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('must be a non-negative integer');
  return n;
}

const formatOption = () => new Option('--format <format>', 'result format on stdout').choices(['text', 'json']).default('text');
const appOption = () => new Option('--app <name>', 'application name (default: AETHER_DEFAULT_APP, package.json name, config default_app)');
const noDeploy = () => new Option('--no-deploy', 'stage the change: `aether config deploy` (or the next deploy) rolls it out');
const examples = (...lines: string[]) => `\nExamples:\n${lines.map((l) => `  ${l}`).join('\n')}`;

// Commands are imported when run, so `--help` and usage errors never load the HTTP client or packer.
export function buildProgram(run: Run, env: CliEnv): Command {
  const program = new Command('aether')
    .description('Deploy Node.js services in seconds: build here, ship the artifact, roll it out.')
    .version(VERSION)
    .addOption(new Option('--log-level <level>', 'log verbosity').choices(['trace', 'debug', 'info', 'warn', 'error']).default('info'))
    .addOption(new Option('--log-format <format>', 'log format on stderr').choices(['auto', 'text', 'json']).default('auto'))
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  const cwd = process.cwd();

  program
    .command('login')
    .description('authenticate against the control plane at AETHER_API_BASE')
    .option('--token <token>', 'API token (or set AETHER_TOKEN)')
    .option('--username <name>', 'label for the session (kept for compatibility)')
    .option('--device', 'approve in the portal with a one-time code, also without a TTY')
    .addHelpText('after', examples('aether login', 'aether login --token $AETHER_ADMIN_TOKEN', 'AETHER_API_BASE=https://aether.internal aether login --device'))
    .action((opts: { token?: string; username?: string; device?: boolean }) => run(async (out) => (await import('./commands/login')).loginCommand(opts, env, out)));

  program
    .command('logout')
    .description("revoke the session's token on the control plane and delete the session file")
    .action(() => run(async (out) => (await import('./commands/logout')).logoutCommand(env, out)));

  program
    .command('whoami')
    .description('who the CLI acts as, where, and until when (exit 10 when not logged in)')
    .addOption(formatOption())
    .action((opts: { format: Format }) => run(async (out) => (await import('./commands/whoami')).whoamiCommand(opts, env, out)));

  program
    .command('deploy')
    .description('install production deps, pack, upload and roll out the project in the current directory')
    .option('--app <name>', 'application name (default: AETHER_DEFAULT_APP, package.json name, config default_app)')
    .addOption(formatOption())
    .option('--no-install', 'pack node_modules as they are, without a production install')
    .option('--no-cache', 'install production dependencies afresh instead of reusing the cached tree')
    .option('--dry-run', 'show what would be packed and deployed; write and send nothing')
    .option('--pack-only', 'pack the tree as it is (no install) and stop; no network')
    .option('--no-upload', 'install and pack, but do not upload or deploy')
    .option('--out <path>', 'artifact file, or a directory for app-<digest>.tar.gz (default: the project)')
    .option('--compression-level <1-9>', 'gzip level; part of the artifact identity', '6')
    .option('--no-sbom', 'do not write <artifact>.sbom.json')
    .option('--legacy-upload', 'upload through the deprecated POST /artifacts instead of straight to storage')
    .option('--legacy-sbom', "write the seed's aether-sbom-v1 instead of CycloneDX 1.5")
    .option('--wait', 'follow the rollout until running or failed (default)')
    .option('--detach', 'return once the deployment is created instead of following it')
    .addHelpText('after', examples('aether deploy', 'aether deploy --app api --format json', 'aether deploy --pack-only --out dist/', 'aether deploy --detach'))
    .action((opts: { app?: string; format: Format; install: boolean; detach?: boolean; dryRun?: boolean; packOnly?: boolean; upload: boolean; out?: string; compressionLevel?: string; sbom: boolean; legacySbom?: boolean; legacyUpload?: boolean; cache: boolean }) =>
      run(async (out) =>
        (await import('./commands/deploy')).deployCommand(
          { app: opts.app, format: opts.format, install: opts.install, wait: !opts.detach, cwd, dryRun: opts.dryRun, packOnly: opts.packOnly, upload: opts.upload, out: opts.out, compressionLevel: opts.compressionLevel, sbom: opts.sbom, legacySbom: opts.legacySbom, legacyUpload: opts.legacyUpload, cache: opts.cache },
          env,
          out,
        ),
      ),
    );

  program
    .command('list')
    .description('list applications, their teams and what each is running')
    .option('--team <team>', 'only the apps of this team')
    .addOption(formatOption())
    .action((opts: { format: Format; team?: string }) => run(async (out) => (await import('./commands/list')).listCommand(opts, env, out)));

  program
    .command('status <deployment>')
    .description('one deployment: status, URL and each rollout phase with its duration')
    .addOption(formatOption())
    .action((id: string, opts: { format: Format }) => run(async (out) => (await import('./commands/status')).statusCommand(id, opts, env, out)));

  program
    .command('logs')
    .description("print an app's output")
    .option('--app <name>', 'application name (default: from the project)')
    .option('-f, --follow', 'keep streaming new lines (reconnects with backoff)', false)
    .option('--tail <n>', 'lines of history to print first', intArg, 100)
    .option('--since <time>', 'only lines after this RFC 3339 time or duration (e.g. 10m, 2h)')
    .option('--container <name>', 'container (Kubernetes runtime)')
    .option('--deployment <id>', 'a specific deployment, also one that was replaced')
    .option('--instance <id>', "only one instance's lines: 0, 1... (local) or a pod name (Kubernetes)")
    .option('-t, --timestamps', 'print each line after the time it was written')
    .addOption(formatOption())
    .addHelpText('after', examples('aether logs --app api --follow', 'aether logs --tail 500 --since 15m', 'aether logs --deployment <id> --format json', 'aether logs --instance 1'))
    .action((opts: { app?: string; follow: boolean; tail: number; since?: string; container?: string; deployment?: string; instance?: string; timestamps?: boolean; format: Format }) =>
      run(async (out) => (await import('./commands/logs')).logsCommand({ ...opts, cwd }, env, out)),
    );

  program
    .command('rollback')
    .description('run an earlier deployment again (default: the one before the current), without uploading anything')
    .option('--app <name>', 'application name (default: from the project)')
    .option('--to <deployment>', 'the deployment id to go back to')
    .option('--yes', 'do not ask for confirmation (needed without a TTY)')
    .option('--detach', 'return once the rollback deployment is created instead of following it')
    .addOption(formatOption())
    .addHelpText('after', examples('aether rollback --app api --yes', 'aether rollback --app api --to 3f2c9a1e-... --yes --format json'))
    .action((opts: { app?: string; to?: string; yes?: boolean; detach?: boolean; format: Format }) =>
      run(async (out) => (await import('./commands/rollback')).rollbackCommand({ app: opts.app, to: opts.to, yes: opts.yes, wait: !opts.detach, format: opts.format, cwd }, env, out)),
    );

  // scale, stop, start, restart: one shape, the verb decides what is asked and what is waited for.
  const lifecycle: { verb: LifecycleVerb; description: string; examples: string[] }[] = [
    { verb: 'scale', description: 'run N instances of the current release (0 stops it); waits until healthy', examples: ['aether scale --instances 3 --app api', 'aether scale --instances 2 --no-wait --format json'] },
    { verb: 'stop', description: 'stop every instance (scale 0); the release stays current and `start` brings it back', examples: ['aether stop --app api'] },
    { verb: 'start', description: 'run the instance count the app had before it was stopped; waits until healthy', examples: ['aether start --app api'] },
    { verb: 'restart', description: 'replace every instance in turn, with no downtime; waits until healthy', examples: ['aether restart --app api --format json'] },
  ];
  for (const l of lifecycle) {
    const cmd = program.command(l.verb).description(l.description);
    if (l.verb === 'scale') cmd.requiredOption('--instances <n>', 'desired instance count, 0..max_instances', intArg);
    cmd
      .addOption(appOption())
      .option('--no-wait', 'return once the change is accepted instead of waiting for the health')
      .option('--timeout <secs>', 'how long to wait for the health', intArg, 120)
      .addOption(formatOption())
      .addHelpText('after', `\nHealth (healthy, degraded, restarting, crash_loop, stopped) is shown apart from the deployment's\nstatus. A crash loop or the timeout ends the wait with exit 20.${examples(...l.examples)}`)
      .action((opts: { app?: string; instances?: number; wait: boolean; timeout: number; format: Format }) =>
        run(async (out) => (await import('./commands/lifecycle')).lifecycleCommand(l.verb, { ...opts, cwd }, env, out)),
      );
  }

  const apps = program.command('apps').description('manage applications');
  apps
    .command('create <name>')
    .description('create an application')
    .option('--team <team>', 'the team that owns it (default: default)')
    .addOption(formatOption())
    .action((name: string, opts: { format: Format; team?: string }) => run(async (out) => (await import('./commands/apps')).appsCreateCommand(name, opts, env, out)));
  apps
    .command('get')
    .description("one app: its stable URL, instances and health, apart from its latest deployment's status")
    .addOption(appOption())
    .addOption(formatOption())
    .action((opts: { app?: string; format: Format }) => run(async (out) => (await import('./commands/apps')).appsGetCommand({ ...opts, cwd }, env, out)));
  apps
    .command('list')
    .description('list applications')
    .option('--team <team>', 'only the apps of this team')
    .addOption(formatOption())
    .action((opts: { format: Format; team?: string }) => run(async (out) => (await import('./commands/apps')).appsListCommand(opts, env, out)));
  apps
    .command('update')
    .description("change an app's settings (a new release, deployed unless --no-deploy) or its team (admin)")
    .addOption(appOption())
    .option('--start-command <cmd>', 'the command that starts the app')
    .option('--no-start-command', "back to the platform's default start command")
    .option('--health-path <path>', 'the path the health check requests, e.g. /healthz')
    .option('--no-health-path', "back to the platform's default health path")
    .option('--health-timeout <secs>', 'how long a new release has to turn healthy', intArg)
    .option('--no-health-timeout', "back to the platform's default health timeout")
    .option('--team <team>', 'move the app to this team (admin)')
    .option('--no-deploy', 'record the settings; they apply from the next deploy')
    .addOption(formatOption())
    .addHelpText('after', examples('aether apps update --app api --start-command "node dist/server.js" --health-path /healthz', 'aether apps update --app api --no-start-command --no-deploy', 'aether apps update --app api --team payments'))
    .action((opts: { app?: string; startCommand?: string | false; healthPath?: string | false; healthTimeout?: number | false; team?: string; deploy: boolean; format: Format }) =>
      run(async (out) => (await import('./commands/apps')).appsUpdateCommand({ ...opts, cwd }, env, out)),
    );
  apps
    .command('delete <name>')
    .description('stop an application and delete it with its artifacts and history (admin)')
    .option('--yes', 'do not ask for confirmation')
    .addOption(formatOption())
    .action((name: string, opts: { yes?: boolean; format: Format }) => run(async (out) => (await import('./commands/apps')).appsDeleteCommand(name, opts, env, out)));

  const config = program
    .command('config')
    .description("an app's environment: plain variables and secrets (write-only), versioned with each release")
    .addHelpText('after', examples('aether config set DATABASE_URL=postgres://db/app LOG_LEVEL=debug --app api', 'aether config set STRIPE_KEY --secret --app api < stripe.key', 'aether config list --app api', 'aether config import .env.production --secret --no-deploy', 'aether config deploy --app api'));
  type ConfigFlags = { app?: string; format: Format; deploy: boolean; secret?: boolean };
  const configOpts = (opts: ConfigFlags) => ({ ...opts, cwd });
  config
    .command('set <assignments...>')
    .description('set variables (KEY=VALUE, split at the first "="); deploys the running artifact with them unless --no-deploy')
    .addOption(appOption())
    .option('--secret', 'store the values as secrets: encrypted, never shown again')
    .addOption(noDeploy())
    .addOption(formatOption())
    .addHelpText(
      'after',
      '\nValues given on the command line end up in shell history and `ps`. For a secret, give the\n' +
        'bare KEY with --secret: its value is read from stdin (one trailing newline dropped), or\n' +
        'asked at a hidden prompt on a terminal.' +
        examples('aether config set NODE_ENV=production FEATURE_X=on --app api', 'aether config set API_KEY --secret --app api < api-key.txt', 'aether config set API_KEY --secret   # hidden prompt'),
    )
    .action((assignments: string[], opts: ConfigFlags) => run(async (out) => (await import('./commands/config')).configSetCommand(assignments, configOpts(opts), env, out)));
  config
    .command('unset <names...>')
    .description('remove variables; deploys unless --no-deploy')
    .addOption(appOption())
    .addOption(noDeploy())
    .addOption(formatOption())
    .action((names: string[], opts: ConfigFlags) => run(async (out) => (await import('./commands/config')).configUnsetCommand(names, configOpts(opts), env, out)));
  config
    .command('list')
    .description('the variables, secrets masked, with when and by whom each was set, and what is staged')
    .addOption(appOption())
    .addOption(formatOption())
    .action((opts: { app?: string; format: Format }) => run(async (out) => (await import('./commands/config')).configListCommand({ ...opts, cwd }, env, out)));
  config
    .command('import <file>')
    .description('set every variable of a dotenv file ("-" reads stdin) in one change; deploys unless --no-deploy')
    .addOption(appOption())
    .option('--secret', 'store them all as secrets')
    .addOption(noDeploy())
    .addOption(formatOption())
    .action((file: string, opts: ConfigFlags) => run(async (out) => (await import('./commands/config')).configImportCommand(file, configOpts(opts), env, out)));
  config
    .command('deploy')
    .description('roll out staged config changes with the artifact that runs now')
    .addOption(appOption())
    .addOption(formatOption())
    .action((opts: { app?: string; format: Format }) => run(async (out) => (await import('./commands/config')).configDeployCommand({ ...opts, cwd }, env, out)));

  const teams = program.command('teams').description('teams own apps; tokens can be limited to teams');
  teams
    .command('list')
    .description('the teams you see, with their app counts')
    .addOption(formatOption())
    .action((opts: { format: Format }) => run(async (out) => (await import('./commands/teams')).teamsListCommand(opts, env, out)));
  teams
    .command('create <name>')
    .description('create a team (admin)')
    .addOption(formatOption())
    .action((name: string, opts: { format: Format }) => run(async (out) => (await import('./commands/teams')).teamsCreateCommand(name, opts, env, out)));
  teams
    .command('delete <name>')
    .description('delete a team that holds no apps (admin)')
    .addOption(formatOption())
    .action((name: string, opts: { format: Format }) => run(async (out) => (await import('./commands/teams')).teamsDeleteCommand(name, opts, env, out)));

  program
    .command('audit')
    .description('who changed what, newest first (others than admins see their teams only)')
    .option('--app <name>', 'only records about this app')
    .option('--team <team>', 'only records of this team')
    .option('--actor <name>', 'only what this actor did')
    .option('--action <procedure>', 'only this action, e.g. config.change')
    .option('--outcome <outcome>', 'ok, or an error code such as forbidden')
    .option('--since <time>', 'from this ISO 8601 time or duration ago (30m, 2h, 7d)')
    .option('--until <time>', 'before this ISO 8601 time or duration ago')
    .option('--limit <n>', 'records to show at most (pages are followed)', intArg, 50)
    .addOption(formatOption())
    .addHelpText('after', examples('aether audit --app api --since 24h', 'aether audit --actor ada --action config.change --format json'))
    .action((opts: { app?: string; team?: string; actor?: string; action?: string; outcome?: string; since?: string; until?: string; limit: number; format: Format }) =>
      run(async (out) => (await import('./commands/audit')).auditCommand(opts, env, out)),
    );

  const keys = program.command('keys').description('Ed25519 signing keys: signed artifacts are marked verified');
  keys
    .command('add')
    .description("register a public key for an app (admin)")
    .requiredOption('--app <name>', 'application name')
    .requiredOption('--public-key <hex>', '64 hex characters')
    .addOption(formatOption())
    .action((opts: { app: string; publicKey: string; format: Format }) => run(async (out) => (await import('./commands/keys')).keysAddCommand(opts, env, out)));
  keys
    .command('list')
    .description("list an app's keys")
    .requiredOption('--app <name>', 'application name')
    .addOption(formatOption())
    .action((opts: { app: string; format: Format }) => run(async (out) => (await import('./commands/keys')).keysListCommand(opts, env, out)));
  keys
    .command('deactivate <key-id>')
    .description('stop trusting a key (admin)')
    .requiredOption('--app <name>', 'application name')
    .addOption(formatOption())
    .action((keyId: string, opts: { app: string; format: Format }) => run(async (out) => (await import('./commands/keys')).keysDeactivateCommand({ ...opts, keyId }, env, out)));

  keys
    .command('generate')
    .description('write an Ed25519 key pair for signing artifacts (private key 0600)')
    .option('--out <file>', 'private key file (public key: <file>.pub)', 'aether-signing.key')
    .option('--app <name>', 'app to mention in the printed `keys add` command')
    .addOption(formatOption())
    .action((opts: { out: string; app?: string; format: Format }) =>
      run(async (out) => (await import('./commands/keys-generate')).keysGenerateCommand({ out: opts.out, app: opts.app, format: opts.format, cwd }, env, out)),
    );

  program
    .command('completions')
    .description('print a shell completion script')
    .addOption(new Option('--shell <shell>', 'target shell').choices(['bash', 'zsh', 'fish']).default('bash'))
    .addHelpText('after', examples('aether completions --shell bash > /etc/bash_completion.d/aether'))
    .action((opts: { shell: 'bash' | 'zsh' | 'fish' }) =>
      run(async (out) => {
        const c = await import('./completions');
        out.result(opts.shell === 'bash' ? c.bashCompletion(program) : opts.shell === 'zsh' ? c.zshCompletion(program) : c.fishCompletion(program));
        return EXIT.ok;
      }),
    );
  return program;
}

/** `--format json` anywhere on the line: errors then go to stdout as `{ "error": { code, message } }`. */
function wantsJson(argv: string[]): boolean {
  return argv.some((a, i) => a === '--format=json' || (a === '--format' && argv[i + 1] === 'json'));
}

/** Parses `argv`, runs the command, and returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  let exitCode: number = EXIT.ok;
  let out: Output = createOutput({ level: 'info', format: 'text' });
  // The command's JSON result waits here, so a failure after it is folded into the same document.
  let result = holdJson(out);
  const env = process.env as CliEnv;
  const program = buildProgram(async (fn) => {
    const globals = program.opts<{ logLevel: LogLevel; logFormat: LogFormat }>();
    out = createOutput({ level: globals.logLevel, format: globals.logFormat });
    result = holdJson(out);
    exitCode = await fn(result.out);
    result.flush();
  }, env);
  try {
    await program.parseAsync(argv);
    return exitCode;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version "fail" with exit code 0; real parse errors are usage errors.
      if (err.exitCode === 0) return EXIT.ok;
      if (wantsJson(argv)) result.flush({ code: 'usage', message: err.message.replace(/^error: /, '') });
      return EXIT.usage;
    }
    const cliErr = toCliError(err);
    if (wantsJson(argv)) result.flush({ code: cliErr.code ?? codeForExit(cliErr.exitCode), message: cliErr.message });
    out.log('error', cliErr.message, cliErr.code ? { code: cliErr.code } : undefined);
    if (cliErr.hint) out.log('info', `hint: ${cliErr.hint}`);
    return cliErr.exitCode;
  }
}

function codeForExit(exit: number): string {
  return { [EXIT.usage]: 'usage', [EXIT.config]: 'config', [EXIT.io]: 'io', [EXIT.network]: 'network' }[exit] ?? 'runtime';
}
