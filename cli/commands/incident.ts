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
import { NotFoundError } from '../../lambdas/shared/errors.ts';
import { type CliIo, type CommandGroup, command, Exit, UsageError } from '../args.ts';

const common = {
  endpoint: { type: 'string', value: 'URL', help: 'AWS endpoint (e.g. the local emulator); default AWS' },
  json: { type: 'boolean', default: false, help: 'machine-readable output' },
  as: { type: 'string', value: 'NAME', help: 'who is acting (default $AIDOPS_USER or $USER)' },
} as const;

const EXECUTION_NOTE = [
  'EXECUTION is an execution ARN or the name `tombstone`/`restore` printed (state machine inferred).',
];

export function clients(endpoint: string | undefined) {
  const cfg = awsClientConfig({ endpoint });
  return { sfn: new SFNClient(cfg), ssm: new SSMClient(cfg), ddb: new DynamoDBClient(cfg) };
}
type Clients = ReturnType<typeof clients>;

function who(io: CliIo, as: string | undefined): string {
  return as ?? io.env.AIDOPS_USER ?? io.env.USER ?? 'unknown';
}

async function machineArn(c: Clients, name: string): Promise<string> {
  let next: string | undefined;
  do {
    const out = await c.sfn.send(new ListStateMachinesCommand({ nextToken: next }));
    const m = (out.stateMachines ?? []).find((x) => x.name === name);
    if (m?.stateMachineArn) return m.stateMachineArn;
    next = out.nextToken;
  } while (next);
  throw new NotFoundError(`state machine ${name} is not deployed here`);
}

/** An ARN, or a bare name: tried as a restore, then as a tombstone execution. */
export async function executionArn(
  c: Clients,
  ref: string,
  prefer: readonly string[] = [RESTORE_MACHINE, TOMBSTONE_MACHINE],
): Promise<string> {
  if (ref.startsWith('arn:')) return ref;
  if (!/^[A-Za-z0-9_-]{1,80}$/.test(ref)) throw new UsageError(`not an execution name or ARN: ${ref}`);
  for (const m of prefer) {
    const arn = `${(await machineArn(c, m)).replace(':stateMachine:', ':execution:')}:${ref}`;
    const found = await c.sfn.send(new DescribeExecutionCommand({ executionArn: arn })).then(
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

const tombstone = command({
  summary: 'isolate first, revoke, freeze, snapshot, evidence under legal hold, ticket',
  synopsis: '--session ID --reason TEXT [--dry-run] [options]',
  options: {
    session: { type: 'string', value: 'ID', help: 'the session to tombstone' },
    instance: { type: 'string', value: 'ID', help: 'an EC2 instance instead of a session' },
    reason: { type: 'string', value: 'TEXT', help: 'why (in the evidence packet and the ticket)' },
    source: { type: 'string', value: 'TEXT', help: 'what raised it (default manual:<who>)' },
    'dry-run': { type: 'boolean', default: false, help: 'plan every step, change nothing' },
    'isolate-subnet': { type: 'boolean', default: false, help: "also isolate the instance's subnet" },
    freeze: { type: 'string', value: 'auto|stop|none', help: 'how to freeze the instance (default auto)' },
    ...common,
  },
  exit: '0 started, 1 refused, 2 bad usage or unreachable endpoint',
  examples: ['aidops incident tombstone --session ses-1a2b3c --reason "exfiltration alarm" --dry-run'],
  run: async ({ values, endpoint }, io) => {
    if (!values.session && !values.instance) throw new UsageError('--session (or --instance) is required');
    if (!values.reason) throw new UsageError('--reason is required');
    if (values.freeze && !['auto', 'stop', 'none'].includes(values.freeze))
      throw new UsageError('--freeze must be auto, stop or none');
    const c = clients(endpoint);
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
    const out = await c.sfn.send(
      new StartExecutionCommand({ stateMachineArn: arn, name, input: JSON.stringify(input) }),
    );
    print(io, values.json, { executionArn: out.executionArn, name, input }, [
      `tombstone started${values['dry-run'] ? ' (DRY RUN: nothing will change)' : ''}: ${name}`,
      `  execution: ${out.executionArn}`,
      `  follow:    aidops incident status ${name}${values.endpoint ? ` --endpoint ${values.endpoint}` : ''}`,
    ]);
    return Exit.Ok;
  },
});

const restore = command({
  summary: 'choose the last known-good snapshot (before the incident, or --before), then wait for approval',
  synopsis: '--session ID [--snapshot SNAP_ID | --before ISO] [options]',
  options: {
    session: { type: 'string', value: 'ID', help: 'the quarantined session' },
    instance: { type: 'string', value: 'ID', help: 'an EC2 instance instead of a session' },
    snapshot: { type: 'string', value: 'SNAP_ID', help: 'restore this snapshot rather than choose one' },
    before: { type: 'string', value: 'ISO', help: 'the last known-good snapshot before this time' },
    reason: { type: 'string', value: 'TEXT', help: 'why (shown to the approver)' },
    ...common,
  },
  exit: '0 started, 1 refused, 2 bad usage or unreachable endpoint',
  examples: ['aidops incident restore --session ses-1a2b3c --before 2026-06-19T21:00:00Z'],
  run: async ({ values, endpoint }, io) => {
    if (!values.session && !values.instance) throw new UsageError('--session (or --instance) is required');
    if (values.before && Number.isNaN(Date.parse(values.before)))
      throw new UsageError(`--before must be an ISO 8601 time, got "${values.before}"`);
    const c = clients(endpoint);
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
    const out = await c.sfn.send(
      new StartExecutionCommand({ stateMachineArn: arn, name, input: JSON.stringify(input) }),
    );
    print(io, values.json, { executionArn: out.executionArn, name, input }, [
      `restore started: ${name} (it waits for approval)`,
      `  approve: aidops incident approve ${name} [--terminate]`,
      `  reject:  aidops incident reject ${name}`,
    ]);
    return Exit.Ok;
  },
});

async function tokenFor(c: Clients, arn: string): Promise<{ token: string; summary: string }> {
  const p = await c.ssm.send(new GetParameterCommand({ Name: INCIDENT_TABLE_PARAMETER }));
  const table = p.Parameter?.Value;
  if (!table) throw new NotFoundError(`SSM parameter ${INCIDENT_TABLE_PARAMETER} is empty`);
  // A restore started seconds ago may not have reached its approval step yet: wait a little, while it runs.
  const deadline = Date.now() + 15_000;
  for (;;) {
    const item = await dynamoIncidentStore(c.ddb, table).getApproval(arn);
    if (item) return item;
    const ex = await c.sfn.send(new DescribeExecutionCommand({ executionArn: arn }));
    if (ex.status !== 'RUNNING' || Date.now() > deadline) {
      throw new NotFoundError(`execution ${arn} is not waiting for approval (or was answered already)`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

const COMMENT = { comment: { type: 'string', value: 'TEXT', help: 'recorded with the answer' } } as const;

/** What approve and reject both take. */
interface AnswerArgs {
  readonly values: {
    readonly as?: string;
    readonly json: boolean;
    readonly comment?: string;
    readonly terminate?: boolean;
  };
  readonly positionals: readonly string[];
  readonly endpoint: string | undefined;
}

async function answer({ values, positionals, endpoint }: AnswerArgs, io: CliIo, approve: boolean): Promise<number> {
  const ref = positionals[0];
  if (!ref || positionals.length > 1) throw new UsageError('name exactly one EXECUTION');
  const c = clients(endpoint);
  const arn = await executionArn(c, ref, [RESTORE_MACHINE]);
  const { token, summary } = await tokenFor(c, arn);
  const approver = who(io, values.as);
  const comment = values.comment ?? '';
  if (approve) {
    const decision = values.terminate ? 'terminate' : 'release';
    await c.sfn.send(
      new SendTaskSuccessCommand({ taskToken: token, output: JSON.stringify({ decision, approver, comment }) }),
    );
    print(io, values.json, { executionArn: arn, decision, approver }, [
      `approved (${decision}) by ${approver}: ${summary}`,
    ]);
  } else {
    await c.sfn.send(
      new SendTaskFailureCommand({
        taskToken: token,
        error: APPROVAL_REJECTED,
        cause: `rejected by ${approver}${comment ? `: ${comment}` : ''}`,
      }),
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

const approve = command({
  summary: 'release (or terminate) a restore waiting for approval',
  synopsis: 'EXECUTION [--terminate] [--comment TEXT] [options]',
  positionals: 'EXECUTION',
  options: {
    terminate: { type: 'boolean', default: false, help: 'terminate the instance instead of releasing it' },
    ...COMMENT,
    ...common,
  },
  notes: EXECUTION_NOTE,
  exit: '0 answered, 1 not waiting for approval (or answered already), 2 bad usage or unreachable endpoint',
  examples: ['aidops incident approve restore-ses-1a2b3c-20260619T211403 --as bob --comment "packet reviewed"'],
  run: (args, io) => answer(args, io, true),
});

const reject = command({
  summary: 'reject a restore waiting for approval: the session stays quarantined',
  synopsis: 'EXECUTION [--comment TEXT] [options]',
  positionals: 'EXECUTION',
  options: { ...COMMENT, ...common },
  notes: EXECUTION_NOTE,
  exit: '0 answered, 1 not waiting for approval (or answered already), 2 bad usage or unreachable endpoint',
  examples: ['aidops incident reject restore-ses-1a2b3c-20260619T211403 --comment "still investigating"'],
  run: (args, io) => answer(args, io, false),
});

interface StatusOutput {
  packet?: { s3Uri?: string; versionId?: string; legalHold?: boolean };
  opsItem?: { id?: string; url?: string };
  snapshots?: { snapshotIds?: string[] };
  quarantinedAt?: string;
  outcome?: unknown;
}

const status = command({
  summary: "an execution's state, current step and outputs (packet, OpsItem, snapshots)",
  synopsis: 'EXECUTION [options]',
  positionals: 'EXECUTION',
  options: common,
  notes: EXECUTION_NOTE,
  exit: '0 running or succeeded, 1 failed, timed out or aborted, 2 bad usage or unreachable endpoint',
  examples: ['aidops incident status manual-ses-1a2b3c-20260619T211403 --json'],
  run: async ({ values, positionals, endpoint }, io) => {
    const ref = positionals[0];
    if (!ref || positionals.length > 1) throw new UsageError('name exactly one EXECUTION');
    const c = clients(endpoint);
    const arn = await executionArn(c, ref);
    const d = await c.sfn.send(new DescribeExecutionCommand({ executionArn: arn }));
    const h = await c.sfn.send(new GetExecutionHistoryCommand({ executionArn: arn, maxResults: 1000 }));
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
  },
});

export const commands: CommandGroup = { tombstone, restore, approve, reject, status };
