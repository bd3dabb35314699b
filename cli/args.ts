/**
 * Strict argument parsing for `aidops`: unknown flags, missing values and bad
 * types are usage errors (exit 2), never silently ignored.
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

export function strictParse<O extends Options>(argv: string[], options: O, allowPositionals = false) {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
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

/** A subcommand group: `aidops <group> <verb> ...` → run(argv) returning the exit code. */
export type CommandGroup = (argv: string[], io: CliIo) => Promise<number>;
