#!/usr/bin/env node
/**
 * aidops: the command line for operators, incident responders and auditors.
 * Every group validates its arguments strictly and exits 0 (ok), 1 (rejected /
 * found a problem) or 2 (usage or connection error).
 */
import { AidopsError } from '../lambdas/shared/errors.ts';
import { type CliIo, type CommandGroup, Exit, processIo, UsageError } from './args.ts';

interface GroupModule {
  run: CommandGroup;
  usage: string;
}

/** Lazy so one group's heavy imports (wasm engines, SDK clients) do not slow the others. */
const groups: Record<string, () => Promise<GroupModule>> = {
  // groups register here: name → () => import('./commands/<name>.ts')
  audit: () => import('./commands/audit.ts'),
  incident: () => import('./commands/incident.ts'),
  attest: () => import('./commands/attest.ts'),
  plugin: () => import('./commands/plugin.ts'),
  policy: () => import('./commands/policy.ts'),
  session: () => import('./commands/session.ts'),
  flags: () => import('./commands/flags.ts'),
};

function usage(): string {
  return [
    'usage: aidops <group> <command> [options]',
    '',
    `groups: ${Object.keys(groups).sort().join(', ')}`,
    'run `aidops <group> --help` for a group’s commands',
  ].join('\n');
}

export async function main(argv: string[], io: CliIo = processIo): Promise<number> {
  const [group, ...rest] = argv;
  if (!group || group === '--help' || group === '-h' || group === 'help') {
    io.out(usage());
    return group ? Exit.Ok : Exit.Usage;
  }
  const load = groups[group];
  if (!load) {
    io.err(`aidops: unknown group "${group}"\n${usage()}`);
    return Exit.Usage;
  }
  const mod = await load();
  if (rest[0] === '--help' || rest[0] === '-h') {
    io.out(mod.usage);
    return Exit.Ok;
  }
  try {
    return await mod.run(rest, io);
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`aidops ${group}: ${e.message}\n${mod.usage}`);
      return Exit.Usage;
    }
    if (e instanceof AidopsError) {
      io.err(`aidops ${group}: ${e.name}: ${e.message}`);
      return e.name === 'EndpointUnreachableError' || e.name === 'ValidationError' ? Exit.Usage : Exit.Rejected;
    }
    io.err(`aidops ${group}: unexpected error: ${(e as Error).stack ?? String(e)}`);
    return Exit.Usage;
  }
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('/aidops')) {
  process.exitCode = await main(process.argv.slice(2));
}
