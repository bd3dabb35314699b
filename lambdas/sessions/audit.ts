/**
 * Audit events of the session lifecycle, built with the audit schema's
 * `newEvent` (workflow steps with the shared `stepEvent`, see `sessionStep`) and
 * put on the audit bus with `publishAuditEvents`.
 */
import { createHash } from 'node:crypto';
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { type AuditEvent, newEvent, publishAuditEvents } from '../audit/schema.ts';
import { bounded, type StepEventContext } from '../audit/step-event.ts';
import { AUDIT_SOURCE, SESSION_MACHINE } from './model.ts';

/** Where events go; handlers publish to EventBridge, tests may collect them. */
export type AuditSink = (events: readonly AuditEvent[]) => Promise<void>;

export function eventBridgeSink(eb: EventBridgeClient, busName: string): AuditSink {
  return async (events) => {
    if (events.length > 0) await publishAuditEvents(eb, busName, events);
  };
}

type Lifecycle = 'provisioning' | 'attesting' | 'running' | 'stopping' | 'stopped' | 'failed' | 'quarantined';

export interface Who {
  readonly sessionId: string | null;
  readonly user?: string | null;
  readonly policyVersion?: string | null;
  readonly instanceId?: string | null;
}

const envelope = (w: Who) => ({
  source: AUDIT_SOURCE,
  sessionId: w.sessionId,
  sandboxId: w.instanceId ?? null,
  user: w.user ? { id: w.user, type: 'human' as const } : null,
  policyVersion: w.policyVersion ?? null,
});

export function lifecycleEvent(w: Who, state: Lifecycle, reason?: string): AuditEvent {
  return newEvent('health', {
    ...envelope(w),
    detail: { type: 'lifecycle', state, ...(reason ? { reason: bounded(reason) } : {}) },
  });
}

/** Who a session workflow step's event (shared `stepEvent`) is about: the session's user asked for it. */
export function sessionStep(w: Who, executionId: string): StepEventContext {
  return {
    source: AUDIT_SOURCE,
    stateMachine: SESSION_MACHINE,
    executionId,
    sessionId: w.sessionId,
    sandboxId: w.instanceId ?? null,
    requestedBy: w.user ?? null,
    policyVersion: w.policyVersion ?? null,
  };
}

/** SHA-256 of canonical JSON (sorted keys): what was decided on, without storing it. */
export function digestOf(v: unknown): string {
  const canon = (x: unknown): unknown =>
    Array.isArray(x)
      ? x.map(canon)
      : x && typeof x === 'object'
        ? Object.fromEntries(
            Object.keys(x as object)
              .sort()
              .map((k) => [k, canon((x as Record<string, unknown>)[k])]),
          )
        : x;
  return createHash('sha256')
    .update(JSON.stringify(canon(v)) ?? 'null')
    .digest('hex');
}

/** A guard decision (admission, a flag change, a sweep action). */
export function decisionEvent(
  w: Who,
  input: unknown,
  action: string,
  resource: string,
  outcome: 'allow' | 'deny',
  reasons: readonly string[],
): AuditEvent {
  return newEvent('decision', {
    ...envelope(w),
    detail: {
      engine: 'guard',
      inputDigest: digestOf(input),
      action: bounded(action),
      resource: bounded(resource),
      outcome,
      reasons: reasons.slice(0, 256).map(bounded),
    },
  });
}

/** An attestation verdict; `unpinned` marks a session whose profile pins no measurement. */
export function attestationEvent(
  w: Who,
  verdict: 'pass' | 'fail',
  platform: string,
  reason: string | null,
  measurements: Record<string, string>,
  opts: { readonly unpinned?: boolean } = {},
): AuditEvent {
  return newEvent('security', {
    ...envelope(w),
    detail: {
      type: 'attestation_result',
      verdict,
      platform,
      measurements,
      ...(reason ? { reason: bounded(reason) } : {}),
      ...(opts.unpinned ? { unpinned: true } : {}),
    },
  });
}
