/**
 * How every `aidops` command is declared and its arguments parsed: strictly
 * (unknown flags, missing values and bad types are usage errors, exit 2, never
 * silently ignored), with each option described once, for the parser and for
 * `--help` alike.
 */
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { AidopsError } from '../lambdas/shared/errors.ts';

export class UsageError extends AidopsError {
  override name = 'UsageError' as const;
}

/** Exit codes shared by every command. */
export const Exit = { Ok: 0, Rejected: 1, Usage: 2 } as const;

export interface CliIo {
  readonly out: (s: string) => void;
  readonly err: (s: string) => void;
  readonly env: Readonly<Record<string, string | undefined>>;
}

export const processIo: CliIo = {
  out: (s) => process.stdout.write(s.endsWith('\n') ? s : `${s}\n`),
  err: (s) => process.stderr.write(s.endsWith('\n') ? s : `${s}\n`),
  env: process.env,
};

export type Options = NonNullable<ParseArgsConfig['options']>;

/** An option as `parseArgs` takes it, plus what `--help` prints about it. */
export interface OptionSpec {
  readonly type: 'string' | 'boolean';
  readonly multiple?: boolean;
  readonly default?: string | boolean;
  /** The value's placeholder in the usage (`FILE`, `ISO`, …); string options only. */
  readonly value?: string;
  /** One line. */
  readonly help: string;
}
export type OptionSpecs = Readonly<Record<string, OptionSpec>>;

/** parseArgs' own wording, made one line and pointed at the option. */
function parseMessage(e: Error & { code?: string }): string {
  const subject = /'([^' ]+)/.exec(e.message)?.[1] ?? '';
  switch (e.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `unknown option '${subject}'`;
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return `unexpected argument '${subject}'`;
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      if (/does not take an argument/.test(e.message)) return `option '${subject}' takes no value`;
      if (/ambiguous/.test(e.message))
        return `option '${subject}' needs a value (write ${subject}=VALUE for one that starts with '-')`;
      return `option '${subject}' needs a value`;
    default:
      return e.message.split('\n')[0] ?? e.message;
  }
}

/** The one parser of `aidops` arguments: strict, and every failure is a one-line `UsageError`. */
export function strictParse<O extends Options>(argv: string[], options: O, allowPositionals = false) {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals });
  } catch (e) {
    throw new UsageError(parseMessage(e as Error));
  }
}

/** An `--endpoint` (or `AWS_ENDPOINT_URL`) must be an absolute http(s) URL. */
function parseEndpoint(value: string, what: string): string {
  const url = URL.canParse(value) ? new URL(value) : undefined;
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:') || !url.hostname)
    throw new UsageError(`${what} must be an http(s) URL, got "${value}"`);
  return value;
}

type Parsed<O extends Options> = ReturnType<
  typeof parseArgs<{ args: string[]; options: O; strict: true; allowPositionals: true }>
>;

/** What a command's `run` receives: its parsed options and positionals, and the endpoint, checked. */
export type CommandArgs<O extends Options> = Parsed<O> & {
  /** `--endpoint`, else `$AWS_ENDPOINT_URL`; undefined for AWS itself or a command without `--endpoint`. */
  readonly endpoint: string | undefined;
};

export interface CommandSpec<O extends OptionSpecs> {
  /** One line: what the command does (the group's listing and the top of its help). */
  readonly summary: string;
  /** What follows `aidops GROUP COMMAND` in the usage line. */
  readonly synopsis: string;
  /** Names the positional arguments the command takes; without it, positionals are refused. */
  readonly positionals?: string;
  readonly options: O;
  /** What each exit code means for this command. */
  readonly exit: string;
  readonly examples: readonly string[];
  /** Further lines of help, after the options. */
  readonly notes?: readonly string[];
  run(args: CommandArgs<O>, io: CliIo): Promise<number>;
}

/** A command as the registry holds it. */
export type Command = CommandSpec<OptionSpecs>;

/** Declares a command; its options are typed from the spec. */
export function command<const O extends OptionSpecs>(spec: CommandSpec<O>): Command {
  return spec as unknown as Command;
}

/** A group's commands by name, in the order its help lists them. */
export type CommandGroup = Readonly<Record<string, Command>>;

/** Parses `argv` for `cmd` and checks `--endpoint` (the same way for every command). */
export function parseCommand(cmd: Command, argv: string[], env: CliIo['env']): CommandArgs<OptionSpecs> {
  const options: Options = {};
  for (const [name, o] of Object.entries(cmd.options))
    options[name] = {
      type: o.type,
      ...(o.multiple ? { multiple: true } : {}),
      ...(o.default !== undefined ? { default: o.default } : {}),
    };
  const parsed = strictParse(argv, options, cmd.positionals !== undefined);
  const flag = parsed.values.endpoint;
  // An empty AWS_ENDPOINT_URL means unset, as it does to the SDK; an empty --endpoint is a mistake.
  const endpoint = !('endpoint' in cmd.options)
    ? undefined
    : typeof flag === 'string'
      ? parseEndpoint(flag, '--endpoint')
      : env.AWS_ENDPOINT_URL
        ? parseEndpoint(env.AWS_ENDPOINT_URL, 'AWS_ENDPOINT_URL')
        : undefined;
  return { ...parsed, endpoint } as unknown as CommandArgs<OptionSpecs>;
}

/** Renders rows as an aligned text table for people; `--json` output bypasses this. */
export function table(rows: readonly Record<string, unknown>[], columns?: readonly string[]): string {
  if (rows.length === 0) return '(none)';
  const cols = columns ?? Object.keys(rows[0] ?? {});
  const cell = (v: unknown): string =>
    v === undefined || v === null ? '-' : typeof v === 'object' ? JSON.stringify(v) : String(v);
  const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (vals: string[]) =>
    vals
      .map((v, i) => v.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(cols.map((c) => c.toUpperCase())), ...rows.map((r) => line(cols.map((c) => cell(r[c]))))].join('\n');
}
