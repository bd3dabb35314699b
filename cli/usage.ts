/**
 * The help `aidops` prints, rendered from the command registry: one usage for
 * the program, one per group (its commands), one per command (its options,
 * exit codes and an example). Nothing here is written per command by hand.
 */
import type { Command, CommandGroup, OptionSpec } from './args.ts';

/** Flags every command accepts, handled before its own options. */
const GLOBAL_OPTIONS: readonly (readonly [string, string])[] = [
  ['-h, --help', 'print this help and exit'],
  ['--debug', 'print the stack trace of an error as well'],
];

function columns(pairs: readonly (readonly [string, string])[]): string[] {
  const width = Math.max(0, ...pairs.map(([left]) => left.length));
  return pairs.map(([left, right]) => `  ${left.padEnd(width)}  ${right}`.trimEnd());
}

function optionLabel(name: string, o: OptionSpec): string {
  return o.type === 'string' ? `--${name} ${o.value ?? 'VALUE'}` : `--${name}`;
}

export interface GroupSummary {
  readonly summary: string;
}

export function programUsage(groups: Readonly<Record<string, GroupSummary>>): string {
  return [
    'usage: aidops <group> <command> [options]',
    '',
    'groups:',
    ...columns(Object.entries(groups).map(([name, g]) => [name, g.summary] as const)),
    '',
    'options:',
    ...columns([['-V, --version', 'print the version and exit'], ...GLOBAL_OPTIONS]),
    '',
    'exit: 0 ok, 1 rejected or findings, 2 usage or connection error',
    'run `aidops <group> --help` for a group’s commands, `aidops <group> <command> --help` for one command',
  ].join('\n');
}

export function groupUsage(group: string, summary: string, commands: CommandGroup): string {
  return [
    `usage: aidops ${group} <command> [options]`,
    '',
    summary,
    '',
    'commands:',
    ...columns(Object.entries(commands).map(([name, c]) => [name, c.summary] as const)),
    '',
    `run \`aidops ${group} <command> --help\` for a command’s options`,
  ].join('\n');
}

export function commandUsage(group: string, name: string, cmd: Command): string {
  return [
    `usage: aidops ${group} ${name} ${cmd.synopsis}`.trimEnd(),
    '',
    cmd.summary,
    '',
    'options:',
    ...columns([
      ...Object.entries(cmd.options).map(([n, o]) => [optionLabel(n, o), o.help] as const),
      ...GLOBAL_OPTIONS,
    ]),
    ...(cmd.notes?.length ? ['', ...cmd.notes] : []),
    '',
    `exit: ${cmd.exit}`,
    '',
    cmd.examples.length > 1 ? 'examples:' : 'example:',
    ...cmd.examples.map((e) => `  ${e}`),
  ].join('\n');
}
