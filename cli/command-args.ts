/**
 * What every `meshlet` command does with its flags: node:util's parseArgs, strict (no positionals,
 * no unknown flags), `-h, --help`, and a bad flag answered with the usage text on stderr, exit 2.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

type FlagsConfig = NonNullable<ParseArgsConfig['options']>;

const HELP_FLAG = { help: { type: 'boolean', short: 'h', default: false } } as const;

/** The flags' values as parseArgs types them; `help` is added to every command's flags. */
export type CommandValues<O extends FlagsConfig> = ReturnType<typeof parseArgs<{ args: string[]; options: O & typeof HELP_FLAG; strict: true }>>['values'];

export type ParsedCommandArgs<V> = { kind: 'help' } | { kind: 'error'; message: string } | { kind: 'run'; values: V };

/** Pure: `args` against `flags` (and `-h, --help`). A flag parseArgs refuses is `error`, with its message. */
export function parseCommandArgs<const O extends FlagsConfig>(args: readonly string[], flags: O): ParsedCommandArgs<CommandValues<O>> {
  let values: CommandValues<O>;
  try {
    ({ values } = parseArgs({ args, options: { ...flags, ...HELP_FLAG }, strict: true }));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS') !== true) throw err;
    return { kind: 'error', message: (err as Error).message };
  }
  return (values as { help: boolean }).help ? { kind: 'help' } : { kind: 'run', values };
}

type Subcommand = (args: string[]) => number | Promise<number>;

/** `meshlet <command>`'s side of it: help on stdout (exit 0), usage errors on stderr (exit 2). */
export function commandLine(command: string, usage: string) {
  const help = (): number => {
    process.stdout.write(usage);
    return 0;
  };
  const usageError = (message: string): number => {
    process.stderr.write(`meshlet ${command}: ${message}\n\n${usage}`);
    return 2;
  };
  /** The flags' values, or the exit code once the help or the usage error (naming the subcommand, if any) is printed. */
  const parse = <const O extends FlagsConfig>(args: readonly string[], flags: O, subcommand?: string): CommandValues<O> | number => {
    const parsed = parseCommandArgs(args, flags);
    if (parsed.kind === 'help') return help();
    if (parsed.kind === 'error') return usageError(subcommand === undefined ? parsed.message : `${subcommand}: ${parsed.message}`);
    return parsed.values;
  };
  /** `meshlet <command> <subcommand> ...`: what a subcommand throws is one line on stderr, exit 1. */
  const dispatch = async (args: readonly string[], subcommands: Record<string, Subcommand>): Promise<number> => {
    const [name, ...rest] = args;
    if (name === '--help' || name === '-h') return help();
    const names = Object.keys(subcommands).join(' or ');
    if (name === undefined) return usageError(`a subcommand is required: ${names}`);
    // Own properties only: `toString` is not a subcommand.
    const subcommand = Object.hasOwn(subcommands, name) ? subcommands[name] : undefined;
    if (subcommand === undefined) return usageError(`unknown subcommand "${name}" (expected ${names})`);
    try {
      return await subcommand(rest);
    } catch (err) {
      process.stderr.write(`meshlet ${command} ${name}: ${(err as Error).message}\n`);
      return 1;
    }
  };
  return { help, usageError, parse, dispatch };
}
