/**
 * cli/command-args: the flags every command parses (strict, `-h, --help` added), and the help and
 * usage errors it prints for them (stdout and exit 0, stderr and exit 2).
 */
import t from 'tap';
import { commandLine, parseCommandArgs } from '../../cli/command-args';

const FLAGS = {
  port: { type: 'string', short: 'p', default: '18000' },
  config: { type: 'string' },
  validate: { type: 'boolean', default: false },
} as const;

const USAGE = 'Usage: meshlet thing [options]\n';

/** What `run` returns (`code`: an exit code, or parsed values) and writes; the streams are restored before anything is asserted. */
async function captured<T>(run: () => T | Promise<T>): Promise<{ code: T; stdout: string; stderr: string }> {
  const out = { stdout: '', stderr: '' };
  const writes = { stdout: process.stdout.write, stderr: process.stderr.write };
  process.stdout.write = ((chunk: string) => Boolean((out.stdout += chunk))) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string) => Boolean((out.stderr += chunk))) as typeof process.stderr.write;
  try {
    return { code: await run(), ...out };
  } finally {
    process.stdout.write = writes.stdout;
    process.stderr.write = writes.stderr;
  }
}

t.test('parseCommandArgs: the values with their defaults, short flags, and help added', async (t) => {
  t.same(parseCommandArgs([], FLAGS), { kind: 'run', values: { port: '18000', validate: false, help: false } });
  t.same(parseCommandArgs(['-p', '1', '--config=m.yaml', '--validate'], FLAGS), {
    kind: 'run',
    values: { port: '1', config: 'm.yaml', validate: true, help: false },
  });
  for (const args of [['--help'], ['-h'], ['--config', 'm.yaml', '-h']]) t.same(parseCommandArgs(args, FLAGS), { kind: 'help' }, args.join(' '));
});

t.test('parseCommandArgs: what parseArgs refuses is an error with its message, even next to --help', async (t) => {
  t.same(parseCommandArgs(['--bogus'], FLAGS), { kind: 'error', message: "Unknown option '--bogus'" });
  t.same(parseCommandArgs(['-h', '--bogus'], FLAGS), { kind: 'error', message: "Unknown option '--bogus'" });
  t.same(parseCommandArgs(['x'], FLAGS), { kind: 'error', message: "Unexpected argument 'x'. This command does not take positional arguments" });
  t.same(parseCommandArgs(['--config'], FLAGS), { kind: 'error', message: "Option '--config <value>' argument missing" });
  t.same(parseCommandArgs(['--help=1'], FLAGS), { kind: 'error', message: "Option '-h, --help' does not take an argument" });
});

t.test('parseCommandArgs: flags that are not a valid parseArgs config throw, as a bug and not a usage error', async (t) => {
  t.throws(() => parseCommandArgs([], { port: { type: 'number' as 'string' } }), { code: 'ERR_INVALID_ARG_TYPE' });
});

t.test('commandLine().parse: the values, or the help (exit 0) or usage error (exit 2) printed', async (t) => {
  const { parse } = commandLine('thing', USAGE);
  t.same(await captured(() => parse(['--port', '9'], FLAGS)), { code: { port: '9', validate: false, help: false }, stdout: '', stderr: '' });
  t.same(await captured(() => parse(['-h'], FLAGS)), { code: 0, stdout: USAGE, stderr: '' });
  t.same(await captured(() => parse(['--bogus'], FLAGS)), { code: 2, stdout: '', stderr: `meshlet thing: Unknown option '--bogus'\n\n${USAGE}` });
  t.same(await captured(() => parse(['--bogus'], FLAGS, 'sub')), {
    code: 2,
    stdout: '',
    stderr: `meshlet thing: sub: Unknown option '--bogus'\n\n${USAGE}`,
  });
});

t.test('commandLine(): help and usageError on their own', async (t) => {
  const { help, usageError } = commandLine('thing', USAGE);
  t.same(await captured(help), { code: 0, stdout: USAGE, stderr: '' });
  t.same(await captured(() => usageError('--port must be a port')), { code: 2, stdout: '', stderr: `meshlet thing: --port must be a port\n\n${USAGE}` });
});

t.test('commandLine().dispatch: help, a missing or unknown subcommand, and what a subcommand returns or throws', async (t) => {
  const { dispatch } = commandLine('thing', USAGE);
  const seen: string[][] = [];
  const subcommands = {
    add: (args: string[]) => {
      seen.push(args);
      return 3;
    },
    remove: async () => {
      await Promise.resolve();
      throw new Error('no such thing');
    },
  };
  t.same(await captured(() => dispatch(['add', '--x', 'y'], subcommands)), { code: 3, stdout: '', stderr: '' });
  t.same(seen, [['--x', 'y']]);
  for (const flag of ['--help', '-h']) t.same(await captured(() => dispatch([flag], subcommands)), { code: 0, stdout: USAGE, stderr: '' });
  t.same(await captured(() => dispatch([], subcommands)), { code: 2, stdout: '', stderr: `meshlet thing: a subcommand is required: add or remove\n\n${USAGE}` });
  t.same(await captured(() => dispatch(['--add'], subcommands)), {
    code: 2,
    stdout: '',
    stderr: `meshlet thing: unknown subcommand "--add" (expected add or remove)\n\n${USAGE}`,
  });
  t.same(await captured(() => dispatch(['remove'], subcommands)), { code: 1, stdout: '', stderr: 'meshlet thing remove: no such thing\n' });
  t.same(await captured(() => dispatch(['toString'], subcommands)), {
    code: 2,
    stdout: '',
    stderr: `meshlet thing: unknown subcommand "toString" (expected add or remove)\n\n${USAGE}`,
  }, 'a name every object has is not a subcommand');
});
