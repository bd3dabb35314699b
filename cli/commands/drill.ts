/**
 * `aidops drill run`: the game day on demand (the scheduled one is lib/constructs/drill.ts). A canary
 * session, a dry-run tombstone of it, time to isolation against the objective, the canary ended, the
 * result audited. The same core as the scheduled function (lambdas/remediation/drill/run.ts).
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { ListStateMachinesCommand, SFNClient } from '@aws-sdk/client-sfn';
import { type DrillResult, runDrill } from '../../lambdas/remediation/drill/run.ts';
import { awsClientConfig } from '../../lambdas/shared/clients.ts';
import { NotFoundError } from '../../lambdas/shared/errors.ts';
import { type CommandGroup, command, Exit, UsageError } from '../args.ts';
import { cliNames, envOption } from '../env.ts';

async function machineArn(sfn: SFNClient, name: string): Promise<string> {
  let next: string | undefined;
  do {
    const out = await sfn.send(new ListStateMachinesCommand({ nextToken: next }));
    const m = (out.stateMachines ?? []).find((x) => x.name === name);
    if (m?.stateMachineArn) return m.stateMachineArn;
    next = out.nextToken;
  } while (next);
  throw new NotFoundError(`state machine ${name} is not deployed here`);
}

const seconds = (v: string | undefined, flag: string, fallback: number): number => {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`${flag} must be a positive number of seconds`);
  return n;
};

function lines(r: DrillResult): string[] {
  const figure = r.timeToIsolationSeconds === undefined ? 'unmeasured' : `${r.timeToIsolationSeconds.toFixed(1)} s`;
  return [
    `drill ${r.drillId}: ${r.passed ? 'PASS' : 'FAIL'}`,
    `  time to isolation: ${figure} (objective ${r.objectiveSeconds} s, planned isolation of a dry run)`,
    `  canary session:    ${r.sessionId} (${r.sessionEnded ? 'ended' : 'NOT ended: end it with aidops session end'})`,
    `  dry-run tombstone: ${r.tombstoneExecution ?? 'not started'}${r.tombstoneStatus ? ` (${r.tombstoneStatus})` : ''}`,
    ...(r.reason ? [`  why:               ${r.reason}`] : []),
  ];
}

const run = command({
  summary: 'a canary session, a dry-run tombstone of it, time to isolation against the objective, audited',
  synopsis: '[--objective SECONDS] [--use-case C] [options]',
  options: {
    objective: {
      type: 'string',
      value: 'SECONDS',
      help: 'the time-to-isolation objective (default 60, aidops:slo.timeToIsolationP99Seconds)',
    },
    'use-case': {
      type: 'string',
      value: 'C',
      default: 'document-summary',
      help: "the canary session's use case (default document-summary)",
    },
    timeout: { type: 'string', value: 'SECONDS', help: 'give up after this long (default 300)' },
    table: { type: 'string', value: 'NAME', help: "session table (default: the environment's)" },
    'audit-bus': { type: 'string', value: 'NAME', help: "audit event bus (default: the environment's)" },
    ...envOption,
    endpoint: { type: 'string', value: 'URL', help: 'AWS endpoint (e.g. the local emulator); default AWS' },
    json: { type: 'boolean', default: false, help: 'machine-readable output' },
  },
  notes: [
    'The tombstone is a dry run: it reads everything and plans every change, and changes nothing.',
    'The result is a workflow audit event on the canary session (pass/fail, the figure).',
  ],
  exit: '0 pass, 1 fail (over the objective, or a step failed), 2 bad usage or unreachable endpoint',
  examples: ['aidops drill run', 'aidops drill run --objective 30 --json'],
  run: async ({ values, endpoint }, io) => {
    const objectiveSeconds = seconds(values.objective, '--objective', 60);
    const timeoutSeconds = seconds(values.timeout, '--timeout', 300);
    const n = cliNames(values.env, io);
    const cfg = awsClientConfig({ endpoint });
    const sfn = new SFNClient(cfg);
    const result = await runDrill(
      {
        sfn,
        ddb: new DynamoDBClient(cfg),
        eventBridge: new EventBridgeClient(cfg),
        sessionMachineArn: await machineArn(sfn, n.sessionMachine),
        tombstoneMachineArn: await machineArn(sfn, n.tombstoneMachine),
        sessionTable: values.table ?? n.sessionTable,
        busName: values['audit-bus'] ?? n.auditBus,
      },
      { useCase: values['use-case'], objectiveSeconds, timeoutSeconds },
    );
    io.out(values.json ? JSON.stringify(result, null, 2) : lines(result).join('\n'));
    return result.passed ? Exit.Ok : Exit.Rejected;
  },
});

export const commands: CommandGroup = { run };
