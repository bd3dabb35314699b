/**
 * `aidops incident`: what an incident responder runs. Every command talks to
 * the Step Functions API (and, for approvals, reads the parked task token from
 * the incident table the remediation construct names in SSM).
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DescribeExecutionCommand,
  GetExecutionHistoryCommand,
  ListStateMachinesCommand,
  SendTaskFailureCommand,
  SendTaskSuccessCommand,
  SFNClient,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { APPROVAL_REJECTED } from '../../lambdas/remediation/errors.ts';
import { dynamoIncidentStore, INCIDENT_TABLE_PARAMETER } from '../../lambdas/remediation/incidents.ts';
import { RESTORE_MACHINE, TOMBSTONE_MACHINE } from '../../lambdas/remediation/names.ts';
import { awsClientConfig } from '../../lambdas/shared/clients.ts';
import { EndpointUnreachableError, NotFoundError } from '../../lambdas/shared/errors.ts';
import { type CliIo, type CommandGroup, Exit, strictParse, UsageError } from '../args.ts';

export const usage = [
  'usage: aidops incident <command> [options]',
  '',
  '  tombstone --session ID --reason TEXT [--dry-run] [--source TEXT] [--isolate-subnet] [--freeze auto|stop|none]',
  '            isolate first, revoke, freeze, snapshot, evidence under legal hold, ticket',
  '  restore   --session ID [--snapshot SNAP_ID] [--before ISO]',
  '            choose the last known-good snapshot (before the incident, or --before), then wait for approval',
  '  approve   EXECUTION [--terminate] [--comment TEXT]   release (or terminate) a restore waiting for approval',
  '  reject    EXECUTION [--comment TEXT]                 the session stays quarantined',
  '  status    EXECUTION                                  state, current step, outputs (packet, OpsItem, snapshots)',
  '',
  'common options:',
  '  --endpoint URL   AWS endpoint (e.g. the local emulator); default AWS',
  '  --json           machine-readable output',
  '  --as NAME        who is acting (default $AIDOPS_USER or $USER)',
  '',
  'EXECUTION is an execution ARN or the name `tombstone`/`restore` printed (state machine inferred).',
  'exit: 0 ok, 1 refused/failed, 2 usage or connection error',
].join('\n');

const common = {
  endpoint: { type: 'string' },
  json: { type: 'boolean', default: false },
  as: { type: 'string' },
} as const;

const NETWORK = /ECONNREFUSED|ECONNRESET|EHOSTUNREACH|ENOTFOUND|socket hang up|connect ETIMEDOUT/;

function clients(endpoint: string | undefined) {
  const cfg = awsClientConfig({ endpoint });
  return { sfn: new SFNClient(cfg), ssm: new SSMClient(cfg), ddb: new DynamoDBClient(cfg), endpoint };
}
type Clients = ReturnType<typeof clients>;

async function call<T>(c: Clients, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    const err = e as Error & { code?: string; cause?: { code?: string } };
    if (NETWORK.test(`${err.code ?? ''} ${err.cause?.code ?? ''} ${err.message}`) || err.name === 'TimeoutError')
      throw new EndpointUnreachableError(`cannot reach ${c.endpoint ?? 'the AWS endpoint'}: ${err.message}`);
    throw e;
  }
}

function who(io: CliIo, as: string | undefined): string {
  return as ?? io.env.AIDOPS_USER ?? io.env.USER ?? 'unknown';
}

async function machineArn(c: Clients, name: string): Promise<string> {
  let next: string | undefined;
  do {
    const out = await call(c, () => c.sfn.send(new ListStateMachinesCommand({ nextToken: next })));
    const m = (out.stateMachines ?? []).find((x) => x.name === name);
    if (m?.stateMachineArn) return m.stateMachineArn;
    next = out.nextToken;
  } while (next);
  throw new NotFoundError(`state machine ${name} is not deployed here`);
}

/** An ARN, or a bare name: tried as a restore, then as a tombstone execution. */
async function executionArn(
  c: Clients,
  ref: string,
  prefer: readonly string[] = [RESTORE_MACHINE, TOMBSTONE_MACHINE],
): Promise<string> {
  if (ref.startsWith('arn:')) return ref;
  if (!/^[A-Za-z0-9_-]{1,80}$/.test(ref)) throw new UsageError(`not an execution name or ARN: ${ref}`);
  for (const m of prefer) {
    const arn = `${(await machineArn(c, m)).replace(':stateMachine:', ':execution:')}:${ref}`;
    const found = await call(c, () => c.sfn.send(new DescribeExecutionCommand({ executionArn: arn }))).then(
      () => true,
      () => false,
    );
    if (found) return arn;
  }
  throw new NotFoundError(`no ${prefer.join(' or ')} execution named ${ref}`);
}

function print(io: CliIo, json: boolean, obj: Record<string, unknown>, lines: string[]): void {
  io.out(json ? JSON.stringify(obj, null, 2) : lines.join('\n'));
}

const stamp = () => new Date().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '');

async function tombstone(argv: string[], io: CliIo): Promise<number> {
  const { values } = strictParse(argv, {
    ...common,
    session: { type: 'string' },
    instance: { type: 'string' },
    reason: { type: 'string' },
    source: { type: 'string' },
    'dry-run': { type: 'boolean', default: false },
    'isolate-subnet': { type: 'boolean', default: false },
    freeze: { type: 'string' },
  });
  if (!values.session && !values.instance) throw new UsageError('--session (or --instance) is required');
  if (!values.reason) throw new UsageError('--reason is required');
  if (values.freeze && !['auto', 'stop', 'none'].includes(values.freeze))
    throw new UsageError('--freeze must be auto, stop or none');
  const c = clients(values.endpoint);
  const requestedBy = who(io, values.as);
  const subject = values.session ?? values.instance!;
  const name = `${values['dry-run'] ? 'dry-' : ''}manual-${subject}-${stamp()}`.slice(0, 80);
  const input = {
    ...(values.session ? { sessionId: values.session } : {}),
    ...(values.instance ? { instanceId: values.instance } : {}),
    reason: values.reason,
    source: values.source ?? `manual:${requestedBy}`,
    requestedBy,
    dryRun: values['dry-run'],
    isolateSubnet: values['isolate-subnet'],
    ...(values.freeze ? { freeze: values.freeze } : {}),
  };
  const arn = await machineArn(c, TOMBSTONE_MACHINE);
  const out = await call(c, () =>
    c.sfn.send(new StartExecutionCommand({ stateMachineArn: arn, name, input: JSON.stringify(input) })),
  );
  print(io, values.json, { executionArn: out.executionArn, name, input }, [
    `tombstone started${values['dry-run'] ? ' (DRY RUN: nothing will change)' : ''}: ${name}`,
    `  execution: ${out.executionArn}`,
    `  follow:    aidops incident status ${name}${values.endpoint ? ` --endpoint ${values.endpoint}` : ''}`,
  ]);
  return Exit.Ok;
}

async function restore(argv: string[], io: CliIo): Promise<number> {
  const { values } = strictParse(argv, {
    ...common,
    session: { type: 'string' },
    instance: { type: 'string' },
    snapshot: { type: 'string' },
    before: { type: 'string' },
    reason: { type: 'string' },
  });
  if (!values.session && !values.instance) throw new UsageError('--session (or --instance) is required');
  if (values.before && Number.isNaN(Date.parse(values.before)))
    throw new UsageError(`--before must be an ISO 8601 time, got "${values.before}"`);
  const c = clients(values.endpoint);
  const requestedBy = who(io, values.as);
  const name = `restore-${values.session ?? values.instance}-${stamp()}`.slice(0, 80);
  const input = {
    ...(values.session ? { sessionId: values.session } : {}),
    ...(values.instance ? { instanceId: values.instance } : {}),
    ...(values.snapshot ? { snapshotId: values.snapshot } : {}),
    ...(values.before ? { before: new Date(values.before).toISOString() } : {}),
    ...(values.reason ? { reason: values.reason } : {}),
    requestedBy,
  };
  const arn = await machineArn(c, RESTORE_MACHINE);
  const out = await call(c, () =>
    c.sfn.send(new StartExecutionCommand({ stateMachineArn: arn, name, input: JSON.stringify(input) })),
  );
  print(io, values.json, { executionArn: out.executionArn, name, input }, [
    `restore started: ${name} (it waits for approval)`,
    `  approve: aidops incident approve ${name} [--terminate]`,
    `  reject:  aidops incident reject ${name}`,
  ]);
  return Exit.Ok;
}

async function tokenFor(c: Clients, arn: string): Promise<{ token: string; summary: string }> {
  const p = await call(c, () => c.ssm.send(new GetParameterCommand({ Name: INCIDENT_TABLE_PARAMETER })));
  const table = p.Parameter?.Value;
  if (!table) throw new NotFoundError(`SSM parameter ${INCIDENT_TABLE_PARAMETER} is empty`);
  // A restore started seconds ago may not have reached its approval step yet: wait a little, while it runs.
  const deadline = Date.now() + 15_000;
  for (;;) {
    const item = await call(c, () => dynamoIncidentStore(c.ddb, table).getApproval(arn));
    if (item) return item;
    const ex = await call(c, () => c.sfn.send(new DescribeExecutionCommand({ executionArn: arn })));
    if (ex.status !== 'RUNNING' || Date.now() > deadline) {
      throw new NotFoundError(`execution ${arn} is not waiting for approval (or was answered already)`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function answer(argv: string[], io: CliIo, approve: boolean): Promise<number> {
  const { values, positionals } = strictParse(
    argv,
    { ...common, comment: { type: 'string' }, ...(approve ? { terminate: { type: 'boolean', default: false } } : {}) },
    true,
  );
  const ref = positionals[0];
  if (!ref || positionals.length > 1) throw new UsageError('name exactly one EXECUTION');
  const c = clients(values.endpoint);
  const arn = await executionArn(c, ref, [RESTORE_MACHINE]);
  const { token, summary } = await tokenFor(c, arn);
  const approver = who(io, values.as);
  const comment = (values.comment as string | undefined) ?? '';
  if (approve) {
    const decision = (values as { terminate?: boolean }).terminate ? 'terminate' : 'release';
    await call(c, () =>
      c.sfn.send(
        new SendTaskSuccessCommand({ taskToken: token, output: JSON.stringify({ decision, approver, comment }) }),
      ),
    );
    print(io, values.json, { executionArn: arn, decision, approver }, [
      `approved (${decision}) by ${approver}: ${summary}`,
    ]);
  } else {
    await call(c, () =>
      c.sfn.send(
        new SendTaskFailureCommand({
          taskToken: token,
          error: APPROVAL_REJECTED,
          cause: `rejected by ${approver}${comment ? `: ${comment}` : ''}`,
        }),
      ),
    );
    print(io, values.json, { executionArn: arn, decision: 'reject', approver }, [
      `rejected by ${approver}: ${summary} (the session stays quarantined)`,
    ]);
  }
  await dynamoIncidentStore(
    c.ddb,
    (await c.ssm.send(new GetParameterCommand({ Name: INCIDENT_TABLE_PARAMETER }))).Parameter!.Value!,
  )
    .deleteApproval(arn)
    .catch(() => undefined);
  return Exit.Ok;
}

interface StatusOutput {
  packet?: { s3Uri?: string; versionId?: string; legalHold?: boolean };
  opsItem?: { id?: string; url?: string };
  snapshots?: { snapshotIds?: string[] };
  quarantinedAt?: string;
  outcome?: unknown;
}

async function status(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = strictParse(argv, common, true);
  const ref = positionals[0];
  if (!ref || positionals.length > 1) throw new UsageError('name exactly one EXECUTION');
  const c = clients(values.endpoint);
  const arn = await executionArn(c, ref);
  const d = await call(c, () => c.sfn.send(new DescribeExecutionCommand({ executionArn: arn })));
  const h = await call(c, () => c.sfn.send(new GetExecutionHistoryCommand({ executionArn: arn, maxResults: 1000 })));
  const entered = (h.events ?? []).filter((e) => String(e.type).endsWith('StateEntered'));
  const last = entered.at(-1) as (typeof entered)[number] & { stateName?: string };
  const current = last?.stateEnteredEventDetails?.name ?? last?.stateName ?? '-';
  const output = d.output ? (JSON.parse(d.output) as StatusOutput) : null;
  const obj = { executionArn: arn, status: d.status, currentStep: current, error: d.error, cause: d.cause, output };
  const lines = [
    `${arn.split(':').slice(-2).join(' / ')}: ${d.status}${d.status === 'RUNNING' ? ` at "${current}"` : ''}`,
  ];
  if (d.error) lines.push(`  error: ${d.error}: ${d.cause ?? ''}`);
  if (output?.packet?.s3Uri)
    lines.push(
      `  evidence: ${output.packet.s3Uri} (version ${output.packet.versionId}, legal hold ${output.packet.legalHold})`,
    );
  if (output?.opsItem?.id) lines.push(`  OpsItem:  ${output.opsItem.id} ${output.opsItem.url ?? ''}`);
  if (output?.snapshots?.snapshotIds) lines.push(`  snapshots: ${output.snapshots.snapshotIds.join(', ') || '-'}`);
  if (output?.quarantinedAt) lines.push(`  quarantined at ${output.quarantinedAt}`);
  if (output?.outcome) lines.push(`  outcome: ${JSON.stringify(output.outcome)}`);
  print(io, values.json, obj, lines);
  return d.status === 'FAILED' || d.status === 'TIMED_OUT' || d.status === 'ABORTED' ? Exit.Rejected : Exit.Ok;
}

export const run: CommandGroup = async (argv, io) => {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'tombstone':
      return await tombstone(rest, io);
    case 'restore':
      return await restore(rest, io);
    case 'approve':
      return await answer(rest, io, true);
    case 'reject':
      return await answer(rest, io, false);
    case 'status':
      return await status(rest, io);
    default:
      throw new UsageError(cmd ? `unknown command "${cmd}"` : 'missing command');
  }
};
