/**
 * `aidops session start|list|show|end`: people's handle on the session workflow.
 * start = StartExecution of `aidops-session` (locally the gateway serves the SFN API);
 * list/show read the session table; end answers the session's callback token.
 * Exit 0 ok, 1 refused / not possible now, 2 usage or connection error.
 */
import { randomBytes } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DescribeExecutionCommand,
  ListStateMachinesCommand,
  SendTaskFailureCommand,
  SendTaskSuccessCommand,
  SFNClient,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import { SESSION_MACHINE } from '../../lambdas/sessions/model.ts';
import { type SessionItem, SessionTable } from '../../lambdas/sessions/table.ts';
import { CAPABILITIES, TIERS } from '../../lambdas/sessions/tiers.ts';
import { awsCall } from '../../lambdas/shared/aws-errors.ts';
import { awsClientConfig } from '../../lambdas/shared/clients.ts';
import { ConflictError, NotFoundError } from '../../lambdas/shared/errors.ts';
import { type CliIo, Exit, strictParse, table, UsageError } from '../args.ts';

export const usage = `usage: aidops session start --user U --use-case C [--tier low|medium|high] [--ttl 2h]
                            [--cohort C] [--session-id ID] [--instance-type T] [--capability CAP]...
                            [--wait SECONDS] [--endpoint URL] [--json]
       aidops session list [--status S] [--endpoint URL] [--json]
       aidops session show ID [--endpoint URL] [--json]
       aidops session end ID [--reason TEXT] [--by USER] [--endpoint URL] [--json]

  start      starts the aidops-session workflow (the session id is the execution name and
             the EC2 ClientToken); waits up to --wait seconds (default 10, 0 = no wait) to report
             admission: exit 1 with the reason if the request is refused
  end        answers the session's end signal (active) or cancels its attestation (launching)
  --endpoint the local emulator gateway (npm run demo prints it); default AWS
  common:    --table NAME (default aidops-sessions), --machine NAME (default aidops-session)
exit: 0 ok, 1 refused or not possible now, 2 bad usage or unreachable endpoint`;

const common = {
  endpoint: { type: 'string' },
  json: { type: 'boolean', default: false },
  table: { type: 'string', default: 'aidops-sessions' },
  machine: { type: 'string', default: SESSION_MACHINE },
} as const;

function clients(endpoint: string | undefined, io: CliIo) {
  const cfg = awsClientConfig({ endpoint: endpoint ?? io.env.AWS_ENDPOINT_URL });
  return { sfn: new SFNClient(cfg), ddb: new DynamoDBClient(cfg) };
}

async function machineArn(sfn: SFNClient, name: string): Promise<string> {
  let token: string | undefined;
  do {
    const r = await awsCall('ListStateMachines', () => sfn.send(new ListStateMachinesCommand({ nextToken: token })));
    const m = r.stateMachines?.find((x) => x.name === name);
    if (m?.stateMachineArn) return m.stateMachineArn;
    token = r.nextToken;
  } while (token);
  throw new NotFoundError(`state machine ${name} is not deployed here`);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function start(argv: string[], io: CliIo): Promise<number> {
  const { values } = strictParse(argv, {
    ...common,
    user: { type: 'string' },
    'use-case': { type: 'string' },
    tier: { type: 'string' },
    ttl: { type: 'string' },
    cohort: { type: 'string' },
    'session-id': { type: 'string' },
    'instance-type': { type: 'string' },
    capability: { type: 'string', multiple: true },
    wait: { type: 'string', default: '10' },
  });
  if (!values.user) throw new UsageError('--user is required');
  if (!values['use-case']) throw new UsageError('--use-case is required');
  if (values.tier && !(TIERS as readonly string[]).includes(values.tier))
    throw new UsageError(`--tier must be one of ${TIERS.join(', ')}`);
  for (const c of values.capability ?? [])
    if (!(CAPABILITIES as readonly string[]).includes(c))
      throw new UsageError(`--capability ${c} is unknown; known: ${CAPABILITIES.join(', ')}`);
  const waitS = Number(values.wait);
  if (!Number.isFinite(waitS) || waitS < 0) throw new UsageError('--wait must be a number of seconds');
  const sessionId = values['session-id'] ?? `ses-${randomBytes(6).toString('hex')}`;
  if (!/^[A-Za-z0-9][A-Za-z0-9_-]{2,63}$/.test(sessionId))
    throw new UsageError('--session-id: 3-64 letters, digits, "-" or "_"');
  const input = {
    sessionId,
    user: values.user,
    useCase: values['use-case'],
    ...(values.cohort ? { cohort: values.cohort } : {}),
    ...(values.tier ? { tier: values.tier } : {}),
    ...(values.ttl ? { ttl: values.ttl } : {}),
    ...(values['instance-type'] ? { instanceType: values['instance-type'] } : {}),
    ...(values.capability ? { capabilities: values.capability } : {}),
  };
  const { sfn, ddb } = clients(values.endpoint, io);
  const arn = await machineArn(sfn, values.machine);
  const r = await awsCall('StartExecution', () =>
    sfn.send(new StartExecutionCommand({ stateMachineArn: arn, name: sessionId, input: JSON.stringify(input) })),
  );
  const executionArn = r.executionArn!;
  let status = 'requested';
  let refused: string | undefined;
  const sessions = new SessionTable(ddb, values.table);
  const until = Date.now() + waitS * 1000;
  while (Date.now() < until) {
    const d = await awsCall('DescribeExecution', () => sfn.send(new DescribeExecutionCommand({ executionArn })));
    if (d.status !== 'RUNNING') {
      status = d.status!.toLowerCase();
      if (
        d.status === 'FAILED' &&
        (d.error === 'AdmissionDeniedError' || d.error === 'ValidationError' || d.error === 'ConflictError')
      )
        refused = `${d.error}: ${d.cause}`;
      else if (d.status !== 'SUCCEEDED') refused = `${d.error ?? d.status}: ${d.cause ?? ''}`;
      break;
    }
    const item = await sessions.get(sessionId);
    if (item && item.status !== 'admitted') {
      status = item.status;
      break;
    }
    await sleep(250);
  }
  const out = { sessionId, executionArn, status, ...(refused ? { refused } : {}) };
  if (values.json) io.out(JSON.stringify(out));
  else if (refused) io.err(`session ${sessionId} refused: ${refused}`);
  else io.out(table([out], ['sessionId', 'status', 'executionArn']));
  return refused ? Exit.Rejected : Exit.Ok;
}

const COLUMNS = ['sessionId', 'status', 'tier', 'profile', 'user', 'useCase', 'instanceId', 'expiresAt', 'reason'];
const view = (s: SessionItem) => {
  const { attestToken, endToken, attestationPolicy, ...rest } = s;
  return { ...rest, waiting: endToken ? 'end signal' : attestToken ? 'attestation' : undefined };
};

async function list(argv: string[], io: CliIo): Promise<number> {
  const { values } = strictParse(argv, { ...common, status: { type: 'string' } });
  const { ddb } = clients(values.endpoint, io);
  const rows = (await new SessionTable(ddb, values.table).list())
    .filter((s) => !values.status || s.status === values.status)
    .map(view);
  io.out(values.json ? JSON.stringify(rows) : table(rows, COLUMNS));
  return Exit.Ok;
}

async function show(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = strictParse(argv, { ...common }, true);
  const id = positionals[0];
  if (!id || positionals.length > 1) throw new UsageError('show takes one session id');
  const { ddb, sfn } = clients(values.endpoint, io);
  const s = await new SessionTable(ddb, values.table).mustGet(id);
  const exec = s.executionArn
    ? await awsCall('DescribeExecution', () =>
        sfn.send(new DescribeExecutionCommand({ executionArn: s.executionArn })),
      ).catch(() => undefined)
    : undefined;
  const out = { ...view(s), execution: exec?.status ?? 'unknown' };
  if (values.json) io.out(JSON.stringify(out));
  else
    io.out(
      Object.entries(out)
        .filter(([, v]) => v !== undefined)
        .map(([k, v]) => `${k.padEnd(16)} ${String(v)}`)
        .join('\n'),
    );
  return Exit.Ok;
}

async function end(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = strictParse(
    argv,
    { ...common, reason: { type: 'string', default: 'ended on request' }, by: { type: 'string' } },
    true,
  );
  const id = positionals[0];
  if (!id || positionals.length > 1) throw new UsageError('end takes one session id');
  const by = values.by ?? io.env.AIDOPS_USER ?? io.env.USER ?? 'operator';
  const { ddb, sfn } = clients(values.endpoint, io);
  const table = new SessionTable(ddb, values.table);
  let s = await table.mustGet(id);
  // A session still launching reaches its attestation wait within seconds: wait for it rather than refuse.
  const deadline = Date.now() + 15_000;
  while (
    !s.endToken &&
    !s.attestToken &&
    !['ended', 'failed', 'tombstoned'].includes(s.status) &&
    Date.now() < deadline
  ) {
    await new Promise((r) => setTimeout(r, 250));
    s = await table.mustGet(id);
  }
  let how: string;
  if (s.endToken) {
    await awsCall('SendTaskSuccess', () =>
      sfn.send(
        new SendTaskSuccessCommand({
          taskToken: s.endToken,
          output: JSON.stringify({ endedBy: by, reason: values.reason }),
        }),
      ),
    );
    how = 'end signal sent; teardown follows';
  } else if (s.attestToken) {
    // Not active yet: fail its attestation wait, which tears the session down.
    await awsCall('SendTaskFailure', () =>
      sfn.send(
        new SendTaskFailureCommand({
          taskToken: s.attestToken,
          error: 'SessionEnded',
          cause: `ended by ${by} before attestation: ${values.reason}`,
        }),
      ),
    );
    how = 'attestation cancelled; teardown follows';
  } else if (['ended', 'failed', 'tombstoned'].includes(s.status)) {
    throw new ConflictError(`session ${id} has already ${s.status === 'ended' ? 'ended' : s.status}`);
  } else {
    throw new ConflictError(
      `session ${id} is ${s.status}; it did not reach a state that can be ended within 15 s; retry`,
    );
  }
  const out = { sessionId: id, status: s.status, action: how };
  io.out(values.json ? JSON.stringify(out) : `${id}: ${how}`);
  return Exit.Ok;
}

export async function run(argv: string[], io: CliIo): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'start':
      return await start(rest, io);
    case 'list':
      return await list(rest, io);
    case 'show':
      return await show(rest, io);
    case 'end':
      return await end(rest, io);
    default:
      throw new UsageError(cmd ? `unknown command "${cmd}"` : 'a command is required');
  }
}
