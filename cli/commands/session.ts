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
import { type SessionItem, SessionTable } from '../../lambdas/sessions/table.ts';
import { CAPABILITIES, TIERS } from '../../lambdas/sessions/tiers.ts';
import { awsClientConfig } from '../../lambdas/shared/clients.ts';
import { ConflictError, NotFoundError } from '../../lambdas/shared/errors.ts';
import { type CommandGroup, command, Exit, table, UsageError } from '../args.ts';
import { cliNames, envOption } from '../env.ts';

const common = {
  ...envOption,
  table: { type: 'string', value: 'NAME', help: "session table (default the environment's)" },
  machine: { type: 'string', value: 'NAME', help: "session state machine (default the environment's)" },
  endpoint: {
    type: 'string',
    value: 'URL',
    help: 'the local emulator gateway (npm run demo prints it); default AWS',
  },
  json: { type: 'boolean', default: false, help: 'machine-readable output' },
} as const;

function clients(endpoint: string | undefined) {
  const cfg = awsClientConfig({ endpoint });
  return { sfn: new SFNClient(cfg), ddb: new DynamoDBClient(cfg) };
}

async function machineArn(sfn: SFNClient, name: string): Promise<string> {
  let token: string | undefined;
  do {
    const r = await sfn.send(new ListStateMachinesCommand({ nextToken: token }));
    const m = r.stateMachines?.find((x) => x.name === name);
    if (m?.stateMachineArn) return m.stateMachineArn;
    token = r.nextToken;
  } while (token);
  throw new NotFoundError(`state machine ${name} is not deployed here`);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const start = command({
  summary: 'start the aidops-session workflow and report its admission',
  synopsis: '--user U --use-case C [options]',
  options: {
    user: { type: 'string', value: 'U', help: 'who the session is for' },
    'use-case': { type: 'string', value: 'C', help: 'what the agent will do' },
    tier: { type: 'string', value: 'T', help: `isolation tier: ${TIERS.join(', ')}` },
    ttl: { type: 'string', value: 'DURATION', help: "how long the session may live (e.g. 2h; default the tier's)" },
    cohort: { type: 'string', value: 'C', help: 'the cohort (flags are set per cohort)' },
    'session-id': {
      type: 'string',
      value: 'ID',
      help: 'the session id: execution name and EC2 ClientToken (default: random)',
    },
    'instance-type': { type: 'string', value: 'T', help: "EC2 instance type (default the profile's)" },
    capability: {
      type: 'string',
      multiple: true,
      value: 'CAP',
      help: `a capability the session needs (repeatable): ${CAPABILITIES.join(', ')}`,
    },
    wait: {
      type: 'string',
      value: 'SECONDS',
      default: '10',
      help: 'wait this long for admission to be decided (default 10, 0 = no wait)',
    },
    ...common,
  },
  exit: '0 started (or admitted), 1 refused (the reason is printed), 2 bad usage or unreachable endpoint',
  examples: ['aidops session start --user alice --use-case document-summary --tier low --ttl 2h'],
  run: async ({ values, endpoint }, io) => {
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
    const { sfn, ddb } = clients(endpoint);
    const arn = await machineArn(sfn, values.machine ?? cliNames(values.env, io).sessionMachine);
    const r = await sfn.send(
      new StartExecutionCommand({ stateMachineArn: arn, name: sessionId, input: JSON.stringify(input) }),
    );
    const executionArn = r.executionArn!;
    let status = 'requested';
    let refused: string | undefined;
    const sessions = new SessionTable(ddb, values.table ?? cliNames(values.env, io).sessionTable);
    const until = Date.now() + waitS * 1000;
    while (Date.now() < until) {
      const d = await sfn.send(new DescribeExecutionCommand({ executionArn }));
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
  },
});

const COLUMNS = ['sessionId', 'status', 'tier', 'profile', 'user', 'useCase', 'instanceId', 'expiresAt', 'reason'];
const view = (s: SessionItem) => {
  const { attestToken, endToken, attestationPolicy, ...rest } = s;
  return { ...rest, waiting: endToken ? 'end signal' : attestToken ? 'attestation' : undefined };
};

const list = command({
  summary: 'list sessions',
  synopsis: '[--status S] [options]',
  options: { status: { type: 'string', value: 'S', help: 'only sessions in this status (e.g. active)' }, ...common },
  exit: '0 ok, 2 bad usage or unreachable endpoint',
  examples: ['aidops session list --status active'],
  run: async ({ values, endpoint }, io) => {
    const { ddb } = clients(endpoint);
    const rows = (await new SessionTable(ddb, values.table ?? cliNames(values.env, io).sessionTable).list())
      .filter((s) => !values.status || s.status === values.status)
      .map(view);
    io.out(values.json ? JSON.stringify(rows) : table(rows, COLUMNS));
    return Exit.Ok;
  },
});

const show = command({
  summary: "show a session's record and its workflow's status",
  synopsis: 'ID [options]',
  positionals: 'ID',
  options: common,
  exit: '0 ok, 1 no such session, 2 bad usage or unreachable endpoint',
  examples: ['aidops session show ses-1a2b3c --json'],
  run: async ({ values, positionals, endpoint }, io) => {
    const id = positionals[0];
    if (!id || positionals.length > 1) throw new UsageError('show takes one session id');
    const { ddb, sfn } = clients(endpoint);
    const s = await new SessionTable(ddb, values.table ?? cliNames(values.env, io).sessionTable).mustGet(id);
    const exec = s.executionArn
      ? await sfn.send(new DescribeExecutionCommand({ executionArn: s.executionArn })).catch(() => undefined)
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
  },
});

const end = command({
  summary: 'end a session: answer its end signal (active) or cancel its attestation (launching)',
  synopsis: 'ID [--reason TEXT] [--by USER] [options]',
  positionals: 'ID',
  options: {
    reason: { type: 'string', value: 'TEXT', default: 'ended on request', help: 'why (default "ended on request")' },
    by: { type: 'string', value: 'USER', help: 'who ends it (default $AIDOPS_USER or $USER)' },
    ...common,
  },
  exit: '0 ending, 1 no such session or it cannot be ended now, 2 bad usage or unreachable endpoint',
  examples: ['aidops session end ses-1a2b3c --reason "report written"'],
  run: async ({ values, positionals, endpoint }, io) => {
    const id = positionals[0];
    if (!id || positionals.length > 1) throw new UsageError('end takes one session id');
    const by = values.by ?? io.env.AIDOPS_USER ?? io.env.USER ?? 'operator';
    const { ddb, sfn } = clients(endpoint);
    const table = new SessionTable(ddb, values.table ?? cliNames(values.env, io).sessionTable);
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
      await sfn.send(
        new SendTaskSuccessCommand({
          taskToken: s.endToken,
          output: JSON.stringify({ endedBy: by, reason: values.reason }),
        }),
      );
      how = 'end signal sent; teardown follows';
    } else if (s.attestToken) {
      // Not active yet: fail its attestation wait, which tears the session down.
      await sfn.send(
        new SendTaskFailureCommand({
          taskToken: s.attestToken,
          error: 'SessionEnded',
          cause: `ended by ${by} before attestation: ${values.reason}`,
        }),
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
  },
});

export const commands: CommandGroup = { start, list, show, end };
