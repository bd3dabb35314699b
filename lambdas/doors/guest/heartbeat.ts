/**
 * `POST /v1/heartbeat`: the agent is alive. Records when it was last seen and
 * the state it reports on the session item; while the session waits for
 * attestation it also heartbeats the workflow's task (whose HeartbeatSeconds
 * fails a guest that goes quiet while booting). Audited only when the reported
 * state changes, so a steady heartbeat does not flood the audit trail.
 */
import * as z from 'zod';
import type { AuditSink } from '../../sessions/audit.ts';
import { lifecycleEvent } from '../../sessions/audit.ts';
import { LIVE } from '../../sessions/model.ts';
import { ConflictError } from '../../shared/errors.ts';
import { type HeartbeatSender, who } from './attest.ts';
import type { Binding } from './binding.ts';
import type { SessionMarks } from './marks.ts';

/** What the agent may say about itself: the audit schema's lifecycle states an agent goes through. */
export const AGENT_STATES = ['provisioning', 'attesting', 'running', 'stopping'] as const;
export const HeartbeatBody = z.strictObject({ state: z.enum(AGENT_STATES).optional() });
export type HeartbeatBody = z.output<typeof HeartbeatBody>;

/** Step Functions' answers to a heartbeat for a task that is no longer waiting. */
const STALE_TOKEN = new Set(['TaskTimedOut', 'TaskDoesNotExist', 'InvalidToken']);

export interface HeartbeatDeps {
  readonly marks: Pick<SessionMarks, 'seen'>;
  readonly callbacks: HeartbeatSender;
  readonly audit: AuditSink;
  readonly now: () => Date;
}

export async function heartbeat(
  b: Binding,
  body: HeartbeatBody,
  deps: HeartbeatDeps,
): Promise<{ sessionId: string; status: string; lastSeenAt: string; stateChanged: boolean }> {
  const s = b.session;
  if (!(LIVE as readonly string[]).includes(s.status))
    throw new ConflictError(`session ${s.sessionId} is ${s.status}`, { status: s.status });
  const now = deps.now();
  const { previous } = await deps.marks.seen(s.sessionId, body.state, now);
  if (s.status === 'attesting' && s.attestToken)
    await deps.callbacks.heartbeat(s.attestToken).catch((e: unknown) => {
      // The workflow moved on (timed out, answered) between the read and the heartbeat.
      if (STALE_TOKEN.has((e as Error).name))
        throw new ConflictError(`session ${s.sessionId} no longer waits for attestation`, {
          reason: (e as Error).name,
        });
      throw e;
    });
  const stateChanged = body.state !== undefined && body.state !== previous;
  if (stateChanged)
    await deps.audit([
      lifecycleEvent(who(b), body.state!, `reported by the agent${previous ? ` (was ${previous})` : ''}`),
    ]);
  return { sessionId: s.sessionId, status: s.status, lastSeenAt: now.toISOString(), stateChanged };
}
