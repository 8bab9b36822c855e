/**
 * The `aether` entry point, kept tiny: `--version` (what scripts call most) answers without
 * loading the argument parser; everything else loads `main`.
 */
declare const AETHER_CLI_VERSION: string;

const argv = process.argv;
if (argv.length === 3 && (argv[2] === '--version' || argv[2] === '-V')) {
  process.stdout.write(`${typeof AETHER_CLI_VERSION === 'string' ? AETHER_CLI_VERSION : '0.0.0-dev'}\n`);
} else {
  const { main } = await import('./main');
  process.exitCode = await main(argv);
}

export {};
