#!/usr/bin/env node
/**
 * aidops: the command line for operators, incident responders and auditors.
 * Every command validates its arguments strictly and exits 0 (ok), 1 (rejected /
 * found a problem) or 2 (usage or connection error). Help, version, `--debug`
 * and the reporting of errors are handled here, once, for every command.
 */
import { readFileSync } from 'node:fs';
import { classifyAwsError, networkFailure } from '../lambdas/shared/aws-errors.ts';
import { AidopsError, EndpointUnreachableError } from '../lambdas/shared/errors.ts';
import { type CliIo, type CommandGroup, Exit, parseCommand, processIo, UsageError } from './args.ts';
import { commandUsage, groupUsage, programUsage } from './usage.ts';

export interface GroupEntry {
  /** One line, for `aidops --help`. */
  readonly summary: string;
  /** Lazy, so one group's heavy imports (wasm engines, SDK clients) do not slow the others. */
  readonly load: () => Promise<CommandGroup>;
}

/** Every group of the CLI: register a new one here (its module exports `commands`). */
export const groups: Readonly<Record<string, GroupEntry>> = {
  session: {
    summary: 'start, list, show and end agent sessions',
    load: async () => (await import('./commands/session.ts')).commands,
  },
  flags: {
    summary: 'fleet capability flags per cohort',
    load: async () => (await import('./commands/flags.ts')).commands,
  },
  attest: {
    summary: 'verify Nitro Enclave, NitroTPM and SEV-SNP evidence offline',
    load: async () => (await import('./commands/attest.ts')).commands,
  },
  policy: {
    summary: 'decide requests, run decision tables, validate policies',
    load: async () => (await import('./commands/policy.ts')).commands,
  },
  audit: {
    summary: 'verify a tamper-evident audit bucket',
    load: async () => (await import('./commands/audit.ts')).commands,
  },
  plugin: {
    summary: 'verify plugin signatures; admit, revoke, list and show plugin versions',
    load: async () => (await import('./commands/plugin.ts')).commands,
  },
  drill: {
    summary: 'game day: a canary session, a dry-run tombstone, time to isolation',
    load: async () => (await import('./commands/drill.ts')).commands,
  },
  incident: {
    summary: 'tombstone and restore sessions, answer approvals, follow executions',
    load: async () => ({
      ...(await import('./commands/incident.ts')).commands,
      ...(await import('./commands/incident-report.ts')).commands,
    }),
  },
};

const HELP = new Set(['--help', '-h', 'help']);

/** The version in the project's package.json. */
function version(): string {
  return (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

/** A bad argument: one line naming it, and where to read the usage. */
function usageError(io: CliIo, prefix: string, message: string): number {
  io.err(`${prefix}: ${message}\nrun \`${prefix} --help\` for usage`);
  return Exit.Usage;
}

/** An error as the CLI reports it: typed ones as they are, AWS/network ones through the shared classifier. */
function classified(e: unknown, endpoint: string | undefined, operation: string): unknown {
  // A core that classified without knowing the command's endpoint names the wrong one: say which it was.
  const misaddressed =
    e instanceof EndpointUnreachableError && endpoint !== undefined && e.details.endpoint !== endpoint;
  if (e instanceof AidopsError && !misaddressed) return e;
  const network = networkFailure(e);
  if (network)
    return new EndpointUnreachableError(`cannot reach ${endpoint ?? 'the AWS endpoint'}: ${network}`, {
      operation,
      endpoint,
    });
  return classifyAwsError(e, operation, { endpoint });
}

/** Errors in what the command was given or could reach, not a verdict: exit 2, like a bad argument. */
const USAGE_OR_CONNECTION = new Set(['EndpointUnreachableError', 'ValidationError', 'TransientError']);

/** Reports `e` (as classified) in one line; with `--debug`, the stack of the error as thrown too. */
function report(io: CliIo, prefix: string, thrown: unknown, endpoint: string | undefined, debug: boolean): number {
  const e = classified(thrown, endpoint, prefix.replace(/^aidops /, ''));
  let code: number;
  if (e instanceof UsageError) code = usageError(io, prefix, e.message);
  else if (e instanceof AidopsError) {
    io.err(`${prefix}: ${e.name}: ${e.message}`);
    code = USAGE_OR_CONNECTION.has(e.name) ? Exit.Usage : Exit.Rejected;
  } else {
    io.err(`${prefix}: unexpected error: ${String(e).split('\n')[0]}`);
    code = Exit.Usage;
  }
  if (debug) io.err(thrown instanceof Error && thrown.stack ? thrown.stack : String(thrown));
  return code;
}

export async function main(argv: string[], io: CliIo = processIo): Promise<number> {
  // Everything after `--` is an argument; before it, `--debug` may sit anywhere.
  const end = argv.indexOf('--');
  const head = end < 0 ? argv : argv.slice(0, end);
  const tail = end < 0 ? [] : argv.slice(end);
  const debug = head.includes('--debug');
  const [group, name, ...rest] = head.filter((a) => a !== '--debug');

  if (group === undefined) {
    io.err(programUsage(groups));
    return Exit.Usage;
  }
  if (HELP.has(group)) {
    io.out(programUsage(groups));
    return Exit.Ok;
  }
  if (group === '--version' || group === '-V') {
    io.out(`aidops ${version()}`);
    return Exit.Ok;
  }
  const entry = Object.hasOwn(groups, group) ? groups[group] : undefined;
  if (!entry)
    return usageError(io, 'aidops', group.startsWith('-') ? `unknown option '${group}'` : `unknown group "${group}"`);

  const commands = await entry.load();
  if (name === undefined) {
    io.err(groupUsage(group, entry.summary, commands));
    return Exit.Usage;
  }
  if (HELP.has(name)) {
    io.out(groupUsage(group, entry.summary, commands));
    return Exit.Ok;
  }
  const cmd = Object.hasOwn(commands, name) ? commands[name] : undefined;
  if (!cmd) return usageError(io, `aidops ${group}`, `unknown command "${name}"`);

  const prefix = `aidops ${group} ${name}`;
  if (rest.some((a) => a === '--help' || a === '-h')) {
    io.out(commandUsage(group, name, cmd));
    return Exit.Ok;
  }
  let endpoint: string | undefined;
  try {
    const args = parseCommand(cmd, [...rest, ...tail], io.env);
    endpoint = args.endpoint;
    return await cmd.run(args, io);
  } catch (e) {
    return report(io, prefix, e, endpoint, debug);
  }
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('/aidops')) {
  process.exitCode = await main(process.argv.slice(2));
}
