/**
 * End the session the tombstone contains: mark it `tombstoned` in the session
 * table (a conditional write: only a live session, and from then on no step of
 * its workflow can move it), and answer the session workflow's pending callback
 * (attestation or the active wait) with `SessionTombstonedError`. The session
 * workflow catches that into a teardown that keeps the instance and its volumes
 * (they are evidence) and ends without alarming. A session the workflow did not
 * start (no record) or that has already ended is reported, not changed.
 */
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SendTaskFailureCommand, type SFNClient } from '@aws-sdk/client-sfn';
import * as z from 'zod';
import { stepEvent } from '../../audit/step-event.ts';
import { SESSION_TOMBSTONED, type SessionTable } from '../../sessions/table.ts';
import { awsCall } from '../../shared/aws-errors.ts';
import { audit, stepContext } from '../audit.ts';
import { Changes, PlannedChange } from './changes.ts';
import { StepFields } from './target.ts';

export const EndSessionInput = z.strictObject(StepFields);
export type EndSessionInput = z.output<typeof EndSessionInput>;

export const SessionEndResult = z.strictObject({
  dryRun: z.boolean(),
  sessionId: z.string().nullable(),
  /** The session's status before; null when it has no record (the session workflow did not start it). */
  statusBefore: z.string().nullable(),
  /** This tombstone marked it (false: it had ended already, or another tombstone had marked it). */
  marked: z.boolean(),
  /** The callback its workflow was waiting on. */
  callback: z.enum(['attestation', 'active']).nullable(),
  /** The workflow took the answer (false: it had moved on; its teardown sees the mark). */
  answered: z.boolean(),
  planned: z.array(PlannedChange),
});
export type SessionEndResult = z.output<typeof SessionEndResult>;

export interface EndSessionDeps {
  /** The session table; absent when the deployment has no session workflow (nothing to end). */
  readonly table?: SessionTable;
  readonly sfn: SFNClient;
  readonly eventBridge?: EventBridgeClient;
  readonly busName?: string;
  readonly now?: () => Date;
}

/** The callback is gone (answered, timed out, or its execution ended): the workflow has moved on. */
const TOKEN_GONE = new Set(['TaskDoesNotExist', 'TaskTimedOut', 'InvalidToken']);

async function answer(sfn: SFNClient, token: string, cause: string): Promise<boolean> {
  return await awsCall('states:SendTaskFailure', () =>
    sfn.send(
      new SendTaskFailureCommand({ taskToken: token, error: SESSION_TOMBSTONED, cause: cause.slice(0, 32_768) }),
    ),
  ).then(
    () => true,
    (e: Error) => {
      if (TOKEN_GONE.has(e.name)) return false;
      throw e;
    },
  );
}

export async function endSession(deps: EndSessionDeps, input: EndSessionInput): Promise<SessionEndResult> {
  const t = input.target;
  const now = (deps.now ?? (() => new Date()))();
  const changes = new Changes(t.request.dryRun);
  const sessionId = t.sessionId;
  const base = { dryRun: changes.dryRun, sessionId };
  if (!sessionId || !deps.table)
    return { ...base, statusBefore: null, marked: false, callback: null, answered: false, planned: [] };
  const table = deps.table;
  const cause = `tombstoned by ${t.incidentId}: ${t.request.reason}`;

  let marked = false;
  let before = changes.dryRun ? await table.get(sessionId) : undefined;
  await changes.applyOrPlan(
    { action: 'dynamodb:UpdateItem', resource: sessionId, detail: `status → tombstoned (${t.incidentId})` },
    async () => {
      const r = await table.markTombstoned(sessionId, t.incidentId, cause, now);
      before = r.before;
      marked = r.marked;
    },
  );
  // The wait the session is in: an active session's attestation token is spent (answered, not cleared).
  const waits: ['active' | 'attestation', string | undefined][] =
    before?.status === 'active'
      ? [['active', before.endToken]]
      : [
          ['attestation', before?.attestToken],
          ['active', before?.endToken],
        ];
  let callback: SessionEndResult['callback'] = null;
  let answered = false;
  // Only the tombstone that marked the session answers it (a second one finds it ended or ending).
  for (const [wait, token] of waits) {
    if (!token || answered || !(marked || changes.dryRun)) continue;
    callback = wait;
    answered =
      (await changes.applyOrPlan(
        { action: 'states:SendTaskFailure', resource: sessionId, detail: `${wait} wait → ${SESSION_TOMBSTONED}` },
        () => answer(deps.sfn, token, cause),
      )) ?? false;
    if (changes.dryRun) break;
  }
  await audit(deps.eventBridge, deps.busName, [
    stepEvent(
      stepContext(t, input.stateMachine),
      `End the session${changes.dryRun ? ' (dry run)' : ''}: ${marked ? 'tombstoned' : `left ${before?.status ?? 'unrecorded'}`}`,
      'succeeded',
    ),
  ]);
  return {
    ...base,
    statusBefore: before?.status ?? null,
    marked,
    callback,
    answered,
    planned: changes.planned,
  };
}
