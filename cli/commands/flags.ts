/**
 * `aidops flags list|set|unset`: fleet toggles (capability flags per cohort,
 * SSM parameters under /aidops/flags; see lambdas/sessions/flags.ts). Every
 * change is audited here, with who and why; in AWS the flag-audit function also
 * audits changes made with any other tool. Admission caches flags ≤ 30 s.
 */
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SSMClient } from '@aws-sdk/client-ssm';
import { decisionEvent, eventBridgeSink } from '../../lambdas/sessions/audit.ts';
import { evaluateFlags, FLEET_COHORT, flagName, SsmFlags } from '../../lambdas/sessions/flags.ts';
import { CAPABILITIES } from '../../lambdas/sessions/tiers.ts';
import { awsClientConfig } from '../../lambdas/shared/clients.ts';
import { type CliIo, type CommandArgs, type CommandGroup, command, Exit, table, UsageError } from '../args.ts';
import { cliNames, envOption } from '../env.ts';

const common = {
  ...envOption,
  prefix: { type: 'string', value: 'P', help: "SSM parameter prefix (default the environment's flags)" },
  'audit-bus': { type: 'string', value: 'NAME', help: "audit event bus (default the environment's)" },
  endpoint: { type: 'string', value: 'URL', help: 'SSM/EventBridge endpoint (e.g. the local emulator); default AWS' },
  json: { type: 'boolean', default: false, help: 'machine-readable output' },
} as const;

const CHANGE = {
  cohort: { type: 'string', value: 'C|all', help: 'the cohort, or "all" for the whole fleet' },
  reason: { type: 'string', value: 'TEXT', help: 'why (every change is audited with it)' },
  by: { type: 'string', value: 'USER', help: 'who changes it (default $AIDOPS_USER or $USER)' },
  ...common,
} as const;

const NOTES = [
  `capabilities: ${CAPABILITIES.join(', ')}`,
  'a capability is on unless "all" or the session\'s cohort says off',
  'admission reads flags with a cache of at most 30 s: a change reaches the fleet within a minute',
];

function clients(endpoint: string | undefined, prefix: string) {
  const cfg = awsClientConfig({ endpoint });
  return { flags: new SsmFlags(new SSMClient(cfg), prefix), eb: new EventBridgeClient(cfg) };
}

const list = command({
  summary: 'list the flags set, or the effective value of every capability for a cohort',
  synopsis: '[--cohort C] [options]',
  options: {
    cohort: { type: 'string', value: 'C', help: 'show the effective value of every capability for this cohort' },
    ...common,
  },
  notes: NOTES,
  exit: '0 ok, 2 bad usage or unreachable endpoint',
  examples: ['aidops flags list --cohort pilot'],
  run: async ({ values, endpoint }, io) => {
    const { flags } = clients(endpoint, values.prefix ?? cliNames(values.env, io).flagPrefix);
    const entries = await flags.list();
    if (values.cohort) {
      const eff = evaluateFlags(entries, values.cohort);
      const rows = CAPABILITIES.map((c) => {
        const why = entries.filter(
          (e) => e.capability === c && (e.cohort === values.cohort || e.cohort === FLEET_COHORT),
        );
        return {
          capability: c,
          enabled: eff[c],
          set: why.map((e) => `${e.cohort}=${e.enabled ? 'on' : 'off'}`).join(' ') || '(default on)',
        };
      });
      io.out(values.json ? JSON.stringify({ cohort: values.cohort, capabilities: rows }) : table(rows));
      return Exit.Ok;
    }
    const rows = entries.map((e) => ({
      cohort: e.cohort,
      capability: e.capability,
      value: e.enabled ? 'on' : 'off',
      version: e.version,
      modified: e.modifiedAt,
    }));
    io.out(values.json ? JSON.stringify(rows) : table(rows));
    return Exit.Ok;
  },
});

async function change(
  { values, positionals, endpoint }: CommandArgs<typeof CHANGE>,
  io: CliIo,
  op: 'set' | 'unset',
): Promise<number> {
  const [capability, value, ...extra] = positionals;
  if (!capability) throw new UsageError(`${op} needs a CAPABILITY`);
  if (op === 'set' && value !== 'on' && value !== 'off') throw new UsageError('set needs a value: on or off');
  if (op === 'unset' && value !== undefined) throw new UsageError('unset takes no value');
  if (extra.length > 0) throw new UsageError(`unexpected arguments: ${extra.join(' ')}`);
  if (!values.cohort) throw new UsageError('--cohort C (or --cohort all) is required');
  if (!values.reason) throw new UsageError('--reason is required: every flag change is audited with why');
  const n = cliNames(values.env, io);
  const prefix = values.prefix ?? n.flagPrefix;
  const bus = values['audit-bus'] ?? n.auditBus;
  try {
    flagName(prefix, values.cohort, capability);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const by = values.by ?? io.env.AIDOPS_USER ?? io.env.USER ?? 'operator';
  const { flags, eb } = clients(endpoint, prefix);
  let version: number | undefined;
  if (op === 'set')
    version = (await flags.set(values.cohort, capability, value === 'on', `${by}: ${values.reason}`)).version;
  else await flags.unset(values.cohort, capability);
  const name = flagName(prefix, values.cohort, capability);
  const out = {
    name,
    cohort: values.cohort,
    capability,
    value: op === 'set' ? value : 'unset (default on)',
    version,
    by,
  };
  try {
    await eventBridgeSink(
      eb,
      bus,
    )([
      decisionEvent({ sessionId: null, user: by }, { op, name, value: value ?? null }, `flags.${op}`, name, 'allow', [
        `flag ${capability} for cohort ${values.cohort}: ${out.value}`,
        `reason: ${values.reason}`,
        `by: ${by}`,
      ]),
    ]);
  } catch (e) {
    io.err(`flag changed, but the audit event could not be published to ${bus}: ${(e as Error).message}`);
    return Exit.Rejected;
  }
  io.out(values.json ? JSON.stringify(out) : `${name} = ${out.value} (audited; admission sees it within 30 s)`);
  return Exit.Ok;
}

const set = command({
  summary: 'turn a capability on or off for a cohort (or the whole fleet), audited',
  synopsis: 'CAPABILITY on|off --cohort C|all --reason TEXT [options]',
  positionals: 'CAPABILITY on|off',
  options: CHANGE,
  notes: NOTES,
  exit: '0 ok, 1 not found, or changed but the audit event failed, 2 bad usage or unreachable endpoint',
  examples: ['aidops flags set new-sessions off --cohort pilot --reason "incident 42"'],
  run: (args, io) => change(args, io, 'set'),
});

const unset = command({
  summary: "remove a cohort's setting of a capability (back to the default, on), audited",
  synopsis: 'CAPABILITY --cohort C|all --reason TEXT [options]',
  positionals: 'CAPABILITY',
  options: CHANGE,
  notes: NOTES,
  exit: '0 ok, 1 not found, or changed but the audit event failed, 2 bad usage or unreachable endpoint',
  examples: ['aidops flags unset new-sessions --cohort pilot --reason "incident 42 resolved"'],
  run: (args, io) => change(args, io, 'unset'),
});

export const commands: CommandGroup = { list, set, unset };
