/**
 * The one builder of `workflow` audit events (one per step of a state machine),
 * used by every capability's workflows. Text fields are bounded as the schema
 * requires; a Step Functions cause can be longer, so it is shortened, not refused.
 */
import { type AuditEventOf, newEvent } from './schema.ts';

export type StepStatus = 'started' | 'succeeded' | 'failed' | 'retrying' | 'caught' | 'timed_out';

export interface StepEventContext {
  /** Component that emits the event, e.g. `aidops.remediation`. */
  readonly source: string;
  readonly stateMachine: string;
  /** Execution ARN (or name). */
  readonly executionId: string;
  readonly sessionId: string | null;
  /** The instance the session runs on, when known. */
  readonly sandboxId?: string | null;
  /** Who asked for the workflow: an IAM principal ARN, `automatic:…`, or a person's id. */
  readonly requestedBy?: string | null;
  readonly policyVersion?: string | null;
}

export interface StepEventExtra {
  readonly error?: string | undefined;
  readonly durationMs?: number | undefined;
  /** @default now */
  readonly time?: Date | undefined;
}

/** Audit text fields are bounded at 1024 characters. */
export function bounded(s: string): string {
  return (s.length > 1000 ? `${s.slice(0, 997)}...` : s) || '-';
}

/** Services and automation are `service`; anything else that asked is a person. */
export function requesterType(who: string): 'human' | 'service' {
  return who.startsWith('automatic') || who.startsWith('arn:') || who.startsWith('eventbridge') ? 'service' : 'human';
}

/** A `workflow` audit event for one step. */
export function stepEvent(
  ctx: StepEventContext,
  step: string,
  status: StepStatus,
  extra: StepEventExtra = {},
): AuditEventOf<'workflow'> {
  return newEvent('workflow', {
    source: ctx.source,
    sessionId: ctx.sessionId,
    sandboxId: ctx.sandboxId ?? null,
    user: ctx.requestedBy ? { id: bounded(ctx.requestedBy), type: requesterType(ctx.requestedBy) } : null,
    policyVersion: ctx.policyVersion ?? null,
    time: extra.time,
    detail: {
      stateMachine: bounded(ctx.stateMachine),
      executionId: bounded(ctx.executionId),
      step: bounded(step),
      status,
      ...(extra.error ? { error: bounded(extra.error) } : {}),
      ...(extra.durationMs !== undefined ? { durationMs: Math.max(0, extra.durationMs) } : {}),
    },
  });
}
