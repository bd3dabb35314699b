/**
 * A drill (game day): proves, against the deployed machines, that containment meets its objective.
 *
 *   start a canary session (the session workflow, tagged as a drill by its id and user)
 *   → once it has an instance, a DRY-RUN tombstone of it (plans every change, makes none)
 *   → wait for the tombstone (bounded) → time to isolation from its execution history
 *     (the trigger → the isolate step's completion) against the objective
 *   → end the canary session (its attestation wait is failed: the session tears itself down)
 *   → a `workflow` audit event with pass/fail and the figure, and the metrics.
 *
 * Pure: clients, names and clock are arguments (the scheduled handler and `aidops drill run` pass theirs).
 */
import { randomBytes } from 'node:crypto';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import {
  DescribeExecutionCommand,
  SendTaskFailureCommand,
  SendTaskSuccessCommand,
  type SFNClient,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import { publishAuditEvents } from '../../audit/schema.ts';
import { stepEvent } from '../../audit/step-event.ts';
import { SessionTable } from '../../sessions/table.ts';
import { awsCall } from '../../shared/aws-errors.ts';
import type { MetricSink } from '../../shared/middleware.ts';
import { executionTimeline, type TimelineEntry } from '../tombstone/timeline.ts';

/** The tombstone state whose completion is isolation (workflows/tombstone.ts). */
export const ISOLATE_STEP = 'Isolate the instance';
/** Drill sessions are recognisable by id and user in the audit trail and the session table. */
export const DRILL_USER = 'aidops-drill';
export const DRILL_SOURCE = 'aidops.drill';

export interface DrillOptions {
  /** The canary's use case (its tier follows from it). */
  readonly useCase: string;
  readonly cohort?: string;
  /** The objective, seconds (aidops:slo.timeToIsolationP99Seconds). */
  readonly objectiveSeconds: number;
  /** The whole drill gives up after this long. @default 300 s */
  readonly timeoutSeconds?: number;
}

export interface DrillDeps {
  readonly sfn: SFNClient;
  readonly ddb: DynamoDBClient;
  readonly eventBridge: EventBridgeClient;
  readonly sessionMachineArn: string;
  readonly tombstoneMachineArn: string;
  readonly sessionTable: string;
  readonly busName: string;
  /** Handlers pass `metric`; the CLI and tests a recorder or nothing. */
  readonly metric?: MetricSink;
  readonly now?: () => Date;
  readonly sleep?: (ms: number) => Promise<void>;
}

export interface DrillResult {
  readonly drillId: string;
  readonly sessionId: string;
  readonly sessionExecution: string;
  readonly tombstoneExecution?: string;
  readonly tombstoneStatus?: string;
  /** Trigger → isolate step completed, seconds; undefined when the isolation never completed. */
  readonly timeToIsolationSeconds?: number;
  readonly objectiveSeconds: number;
  readonly passed: boolean;
  /** Why it failed, when it did. */
  readonly reason?: string;
  readonly sessionEnded: boolean;
}

class DrillTimeout extends Error {
  override name = 'DrillTimeout' as const;
}

/** Seconds from the trigger to the isolate step's exit, from the tombstone's own history. */
export function isolationSeconds(timeline: readonly TimelineEntry[], triggeredAt: Date): number | undefined {
  const exit = timeline.find((e) => /StateExited$/.test(e.type) && e.state === ISOLATE_STEP);
  if (!exit) return undefined;
  return Math.max(0, (Date.parse(exit.time) - triggeredAt.getTime()) / 1000);
}

export async function runDrill(deps: DrillDeps, opts: DrillOptions): Promise<DrillResult> {
  const now = deps.now ?? (() => new Date());
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const started = now();
  const deadline = started.getTime() + (opts.timeoutSeconds ?? 300) * 1000;
  const until = async <T>(what: string, probe: () => Promise<T | undefined>): Promise<T> => {
    for (;;) {
      const v = await probe();
      if (v !== undefined) return v;
      if (now().getTime() > deadline) throw new DrillTimeout(`gave up waiting for ${what}`);
      await sleep(500);
    }
  };
  const drillId = `drill-${randomBytes(5).toString('hex')}`;
  const sessionId = drillId;
  const table = new SessionTable(deps.ddb, deps.sessionTable);

  const session = await awsCall('states:StartExecution', () =>
    deps.sfn.send(
      new StartExecutionCommand({
        stateMachineArn: deps.sessionMachineArn,
        name: sessionId,
        input: JSON.stringify({ sessionId, user: DRILL_USER, useCase: opts.useCase, cohort: opts.cohort ?? 'default' }),
      }),
    ),
  );
  const sessionExecution = session.executionArn ?? sessionId;
  let tombstoneExecution: string | undefined;
  let tombstoneStatus: string | undefined;
  let figure: number | undefined;
  let reason: string | undefined;
  try {
    // The tombstone needs the canary's instance; the end needs its attestation wait.
    await until('the canary session to launch', async () => {
      const s = await table.get(sessionId);
      if (s && ['ended', 'failed', 'tombstoned'].includes(s.status))
        throw new Error(`the canary session ${s.status} before it could be drilled`);
      return s?.instanceId && (s.attestToken || s.endToken) ? s : undefined;
    });
    const triggeredAt = now();
    const t = await awsCall('states:StartExecution', () =>
      deps.sfn.send(
        new StartExecutionCommand({
          stateMachineArn: deps.tombstoneMachineArn,
          name: drillId,
          input: JSON.stringify({
            sessionId,
            reason: `drill ${drillId}: time to isolation against ${opts.objectiveSeconds} s`,
            source: `drill:${drillId}`,
            requestedBy: 'automatic:drill',
            dryRun: true,
            triggeredAt: triggeredAt.toISOString(),
          }),
        }),
      ),
    );
    tombstoneExecution = t.executionArn ?? drillId;
    const arn = tombstoneExecution;
    tombstoneStatus = await until('the dry-run tombstone', async () => {
      const d = await deps.sfn.send(new DescribeExecutionCommand({ executionArn: arn }));
      return d.status === 'RUNNING' ? undefined : String(d.status);
    });
    figure = isolationSeconds(await executionTimeline(deps.sfn, arn), triggeredAt);
    if (tombstoneStatus !== 'SUCCEEDED') reason = `the dry-run tombstone ${tombstoneStatus}`;
    else if (figure === undefined) reason = 'the isolate step never completed';
    else if (figure > opts.objectiveSeconds)
      reason = `time to isolation ${figure.toFixed(1)} s is over the objective ${opts.objectiveSeconds} s`;
  } catch (e) {
    reason = (e as Error).message;
  }
  const sessionEnded = await endCanary(deps, table, sessionId);
  const passed = reason === undefined;
  const result: DrillResult = {
    drillId,
    sessionId,
    sessionExecution,
    ...(tombstoneExecution ? { tombstoneExecution } : {}),
    ...(tombstoneStatus ? { tombstoneStatus } : {}),
    ...(figure === undefined ? {} : { timeToIsolationSeconds: figure }),
    objectiveSeconds: opts.objectiveSeconds,
    passed,
    ...(reason ? { reason } : {}),
    sessionEnded,
  };
  await record(deps, result, started, now());
  return result;
}

/** Fails the canary's attestation wait (or answers its end signal): its own workflow tears it down. */
async function endCanary(deps: DrillDeps, table: SessionTable, sessionId: string): Promise<boolean> {
  const s = await table.get(sessionId).catch(() => undefined);
  if (!s) return false;
  if (['ended', 'failed', 'tombstoned'].includes(s.status)) return true;
  const token = s.endToken ?? s.attestToken;
  if (!token) return false;
  const cause = `drill ${sessionId} done`;
  const output = JSON.stringify({ endedBy: DRILL_USER, reason: cause });
  await awsCall('states:SendTask', () =>
    s.endToken
      ? deps.sfn.send(new SendTaskSuccessCommand({ taskToken: token, output }))
      : deps.sfn.send(new SendTaskFailureCommand({ taskToken: token, error: 'SessionEnded', cause })),
  );
  return true;
}

async function record(deps: DrillDeps, r: DrillResult, started: Date, ended: Date): Promise<void> {
  const figure = r.timeToIsolationSeconds;
  const step = `Drill: time to isolation ${figure === undefined ? 'unmeasured' : `${figure.toFixed(1)} s`} (objective ${r.objectiveSeconds} s)`;
  const event = stepEvent(
    {
      source: DRILL_SOURCE,
      stateMachine: 'drill',
      executionId: r.tombstoneExecution ?? r.drillId,
      sessionId: r.sessionId,
      requestedBy: 'automatic:drill',
    },
    step,
    r.passed ? 'succeeded' : 'failed',
    {
      ...(r.reason ? { error: r.reason } : {}),
      durationMs: figure === undefined ? ended.getTime() - started.getTime() : Math.round(figure * 1000),
      time: ended,
    },
  );
  await publishAuditEvents(deps.eventBridge, deps.busName, [event]);
  if (figure !== undefined) deps.metric?.('DrillTimeToIsolation', 'Seconds', figure);
  deps.metric?.('DrillResult', 'Count', r.passed ? 1 : 0, { Result: r.passed ? 'pass' : 'fail' });
}
