/**
 * Remediation's audit trail: every step writes `workflow` events (built by the
 * audit capability's `stepEvent`) with source `aidops.remediation`, from a
 * context built here, once, for tombstone targets, restore plans, triggers and
 * failures alike.
 */
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { type AuditEvent, publishAuditEvents } from '../audit/schema.ts';
import type { StepEventContext } from '../audit/step-event.ts';

/** Source of every audit event the remediation workflows write. */
export const REMEDIATION_SOURCE = 'aidops.remediation' as const;

/** Who a step acts for: a tombstone target and a restore plan both have this shape. */
export interface StepSubject {
  /** Execution ARN. */
  readonly executionId: string;
  readonly sessionId: string | null;
  readonly request: { readonly requestedBy?: string | undefined };
}

/** The audit context of a remediation step. */
export function stepContext(subject: StepSubject, stateMachine: string): StepEventContext {
  return {
    source: REMEDIATION_SOURCE,
    stateMachine,
    executionId: subject.executionId,
    sessionId: subject.sessionId,
    requestedBy: subject.request.requestedBy ?? null,
  };
}

/** Publishes audit events to the bus; `bus` undefined publishes nothing (unit tests of pure cores). */
export async function audit(
  eb: EventBridgeClient | undefined,
  bus: string | undefined,
  events: readonly AuditEvent[],
): Promise<void> {
  if (!eb || !bus || events.length === 0) return;
  await publishAuditEvents(eb, bus, events);
}
