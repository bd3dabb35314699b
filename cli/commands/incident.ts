/**
 * `aidops incident`: what an incident responder runs. Tombstone, restore,
 * approve and reject go through the people's door, signed with the user's own
 * AWS credentials (cli/door.ts): the door records the signer's principal ARN as
 * the requester or the approver, and refuses a requester approving their own
 * restore. `status` reads the Step Functions API.
 */
import {
  DescribeExecutionCommand,
  GetExecutionHistoryCommand,
  ListStateMachinesCommand,
  SFNClient,
} from '@aws-sdk/client-sfn';
import { awsClientConfig } from '../../lambdas/shared/clients.ts';
import { NotFoundError } from '../../lambdas/shared/errors.ts';
import { type CliIo, type CommandGroup, command, Exit, UsageError } from '../args.ts';
import { callDoor, DOOR_OPTIONS, type DoorTarget } from '../door.ts';
import { cliNames, envOption } from '../env.ts';

const common = {
  ...envOption,
  endpoint: { type: 'string', value: 'URL', help: 'AWS endpoint (e.g. the local emulator); default AWS' },
  json: { type: 'boolean', default: false, help: 'machine-readable output' },
} as const;
const signed = { ...common, ...DOOR_OPTIONS } as const;

const target = (values: { 'door-url'?: string; profile?: string; env?: string }, endpoint?: string): DoorTarget => ({
  ...(values['door-url'] ? { doorUrl: values['door-url'] } : {}),
  ...(values.profile ? { profile: values.profile } : {}),
  ...(values.env ? { env: values.env } : {}),
  ...(endpoint ? { endpoint } : {}),
});
const SIGNED_NOTE = [
  "Signed with your AWS credentials (SigV4) to the people's door: you are the requester or approver, as your principal ARN.",
];

const EXECUTION_NOTE = [
  'EXECUTION is an execution ARN or the name `tombstone`/`restore` printed (state machine inferred).',
];

export function clients(endpoint: string | undefined) {
  return { sfn: new SFNClient(awsClientConfig({ endpoint })) };
}
type Clients = ReturnType<typeof clients>;

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

/** An ARN, or a bare name: tried as an execution of each machine in `prefer` (e.g. restore, then tombstone). */
export async function executionArn(c: Clients, ref: string, prefer: readonly string[]): Promise<string> {
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
    ...signed,
  },
  notes: SIGNED_NOTE,
  exit: '0 started, 1 refused, 2 bad usage or unreachable endpoint',
  examples: ['aidops incident tombstone --session ses-1a2b3c --reason "exfiltration alarm" --dry-run'],
  run: async ({ values, endpoint }, io) => {
    if (!values.session && !values.instance) throw new UsageError('--session (or --instance) is required');
    if (!values.reason) throw new UsageError('--reason is required');
    if (values.freeze && !['auto', 'stop', 'none'].includes(values.freeze))
      throw new UsageError('--freeze must be auto, stop or none');
    const out = await callDoor(target(values, endpoint), io, {
      method: 'POST',
      path: 'v1/incidents/tombstone',
      body: {
        ...(values.session ? { sessionId: values.session } : {}),
        ...(values.instance ? { instanceId: values.instance } : {}),
        reason: values.reason,
        ...(values.source ? { source: values.source } : {}),
        dryRun: values['dry-run'],
        isolateSubnet: values['isolate-subnet'],
        ...(values.freeze ? { freeze: values.freeze } : {}),
      },
      action: 'start a tombstone',
      role: 'responder',
    });
    const name = String(out.name);
    const input = out.input;
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
    ...signed,
  },
  notes: SIGNED_NOTE,
  exit: '0 started, 1 refused, 2 bad usage or unreachable endpoint',
  examples: ['aidops incident restore --session ses-1a2b3c --before 2026-06-19T21:00:00Z'],
  run: async ({ values, endpoint }, io) => {
    if (!values.session && !values.instance) throw new UsageError('--session (or --instance) is required');
    if (values.before && Number.isNaN(Date.parse(values.before)))
      throw new UsageError(`--before must be an ISO 8601 time, got "${values.before}"`);
    const out = await callDoor(target(values, endpoint), io, {
      method: 'POST',
      path: 'v1/incidents/restore',
      body: {
        ...(values.session ? { sessionId: values.session } : {}),
        ...(values.instance ? { instanceId: values.instance } : {}),
        ...(values.snapshot ? { snapshotId: values.snapshot } : {}),
        ...(values.before ? { before: new Date(values.before).toISOString() } : {}),
        ...(values.reason ? { reason: values.reason } : {}),
      },
      action: 'start a restore',
      role: 'responder',
    });
    const name = String(out.name);
    const input = out.input;
    print(io, values.json, { executionArn: out.executionArn, name, input }, [
      `restore started: ${name} (it waits for approval)`,
      `  approve: aidops incident approve ${name} [--terminate]`,
      `  reject:  aidops incident reject ${name}`,
    ]);
    return Exit.Ok;
  },
});

const COMMENT = { comment: { type: 'string', value: 'TEXT', help: 'recorded with the answer' } } as const;

/** What approve and reject both take. */
interface AnswerArgs {
  readonly values: {
    readonly json: boolean;
    readonly comment?: string;
    readonly terminate?: boolean;
    readonly 'door-url'?: string;
    readonly profile?: string;
    readonly env?: string;
  };
  readonly positionals: readonly string[];
  readonly endpoint: string | undefined;
}

/** A restore's name (an execution ARN is taken to its last part: the door answers by name). */
function restoreName(ref: string): string {
  const name = ref.startsWith('arn:') ? (ref.split(':').pop() ?? '') : ref;
  if (!/^[A-Za-z0-9_-]{1,80}$/.test(name)) throw new UsageError(`not an execution name or ARN: ${ref}`);
  return name;
}

async function answer({ values, positionals, endpoint }: AnswerArgs, io: CliIo, approve: boolean): Promise<number> {
  const ref = positionals[0];
  if (!ref || positionals.length > 1) throw new UsageError('name exactly one EXECUTION');
  const name = restoreName(ref);
  const verb = approve ? 'approve' : 'reject';
  const body = {
    ...(approve ? { decision: values.terminate ? 'terminate' : 'release' } : {}),
    ...(values.comment ? { comment: values.comment } : {}),
  };
  // A restore started seconds ago may not have parked its token yet: ask again for a little while.
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      const out = await callDoor(target(values, endpoint), io, {
        method: 'POST',
        path: `v1/approvals/restore/${name}/${verb}`,
        body,
        action: `${verb} restore ${name}`,
        role: 'approver',
      });
      const by = String(out.by);
      const summary = String(out.subject);
      print(io, values.json, { ...out, decision: out.decision ?? 'reject', approver: by }, [
        approve
          ? `approved (${String(out.decision)}) by ${by}: ${summary}`
          : `rejected by ${by}: ${summary} (the session stays quarantined)`,
      ]);
      return Exit.Ok;
    } catch (e) {
      if (
        !(e instanceof Error && e.name === 'DoorError' && e.message.startsWith('NotFoundError')) ||
        Date.now() > deadline
      )
        throw e;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

const approve = command({
  summary: 'release (or terminate) a restore waiting for approval',
  synopsis: 'EXECUTION [--terminate] [--comment TEXT] [options]',
  positionals: 'EXECUTION',
  options: {
    terminate: { type: 'boolean', default: false, help: 'terminate the instance instead of releasing it' },
    ...COMMENT,
    ...signed,
  },
  notes: [...EXECUTION_NOTE, ...SIGNED_NOTE, 'You may not approve a restore you requested (two-person rule).'],
  exit: '0 answered, 1 not waiting for approval (or answered already), 2 bad usage or unreachable endpoint',
  examples: [
    'aidops incident approve restore-ses-1a2b3c-20260619T211403 --profile approver --comment "packet reviewed"',
  ],
  run: (args, io) => answer(args, io, true),
});

const reject = command({
  summary: 'reject a restore waiting for approval: the session stays quarantined',
  synopsis: 'EXECUTION [--comment TEXT] [options]',
  positionals: 'EXECUTION',
  options: { ...COMMENT, ...signed },
  notes: [...EXECUTION_NOTE, ...SIGNED_NOTE],
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
    const n = cliNames(values.env, io);
    const arn = await executionArn(c, ref, [n.restoreMachine, n.tombstoneMachine]);
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
