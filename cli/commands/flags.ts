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
import { type CliIo, Exit, strictParse, table, UsageError } from '../args.ts';

export const usage = `usage: aidops flags list [--cohort C] [--endpoint URL] [--json]
       aidops flags set CAPABILITY on|off --cohort C|all --reason TEXT [--by USER] [--endpoint URL] [--json]
       aidops flags unset CAPABILITY --cohort C|all --reason TEXT [--by USER] [--endpoint URL] [--json]

  capabilities: ${CAPABILITIES.join(', ')}
  cohort "all" is fleet-wide; a capability is on unless "all" or the session's cohort says off
  list --cohort C   shows the effective value of every capability for cohort C
  common: --prefix P (default /aidops/flags), --audit-bus NAME (default aidops-audit)
  admission reads flags with a cache of at most 30 s: a change reaches the fleet within a minute
exit: 0 ok, 1 not found / audit failed, 2 bad usage or unreachable endpoint`;

const common = {
  endpoint: { type: 'string' },
  json: { type: 'boolean', default: false },
  prefix: { type: 'string', default: '/aidops/flags' },
  'audit-bus': { type: 'string', default: 'aidops-audit' },
} as const;

function clients(endpoint: string | undefined, io: CliIo, prefix: string) {
  const cfg = awsClientConfig({ endpoint: endpoint ?? io.env.AWS_ENDPOINT_URL });
  return { flags: new SsmFlags(new SSMClient(cfg), prefix), eb: new EventBridgeClient(cfg) };
}

async function list(argv: string[], io: CliIo): Promise<number> {
  const { values } = strictParse(argv, { ...common, cohort: { type: 'string' } });
  const { flags } = clients(values.endpoint, io, values.prefix);
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
}

async function change(argv: string[], io: CliIo, op: 'set' | 'unset'): Promise<number> {
  const { values, positionals } = strictParse(
    argv,
    { ...common, cohort: { type: 'string' }, reason: { type: 'string' }, by: { type: 'string' } },
    true,
  );
  const [capability, value, ...extra] = positionals;
  if (!capability) throw new UsageError(`${op} needs a CAPABILITY`);
  if (op === 'set' && value !== 'on' && value !== 'off') throw new UsageError('set needs a value: on or off');
  if (op === 'unset' && value !== undefined) throw new UsageError('unset takes no value');
  if (extra.length > 0) throw new UsageError(`unexpected arguments: ${extra.join(' ')}`);
  if (!values.cohort) throw new UsageError('--cohort C (or --cohort all) is required');
  if (!values.reason) throw new UsageError('--reason is required: every flag change is audited with why');
  try {
    flagName(values.prefix, values.cohort, capability);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const by = values.by ?? io.env.AIDOPS_USER ?? io.env.USER ?? 'operator';
  const { flags, eb } = clients(values.endpoint, io, values.prefix);
  let version: number | undefined;
  if (op === 'set')
    version = (await flags.set(values.cohort, capability, value === 'on', `${by}: ${values.reason}`)).version;
  else await flags.unset(values.cohort, capability);
  const name = flagName(values.prefix, values.cohort, capability);
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
      values['audit-bus'],
    )([
      decisionEvent({ sessionId: null, user: by }, { op, name, value: value ?? null }, `flags.${op}`, name, 'allow', [
        `flag ${capability} for cohort ${values.cohort}: ${out.value}`,
        `reason: ${values.reason}`,
        `by: ${by}`,
      ]),
    ]);
  } catch (e) {
    io.err(
      `flag changed, but the audit event could not be published to ${values['audit-bus']}: ${(e as Error).message}`,
    );
    return Exit.Rejected;
  }
  io.out(values.json ? JSON.stringify(out) : `${name} = ${out.value} (audited; admission sees it within 30 s)`);
  return Exit.Ok;
}

export async function run(argv: string[], io: CliIo): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'list':
      return await list(rest, io);
    case 'set':
      return await change(rest, io, 'set');
    case 'unset':
      return await change(rest, io, 'unset');
    default:
      throw new UsageError(cmd ? `unknown command "${cmd}"` : 'a command is required');
  }
}
