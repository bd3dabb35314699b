/**
 * `POST /v1/telemetry`: a batch of the agent's own events (intent, action,
 * health, security) into the audit pipeline. Each event is checked against the
 * audit schema's detail for its kind; its envelope is the door's: the caller's
 * session id, its instance as the sandbox, the session's user and policy
 * version, source `aidops.agent`. An event that names any of those itself is
 * refused (400 naming the field), as is an attestation verdict: only the
 * control plane judges attestation. The agent's event ids are kept, so a batch
 * sent twice in one writer batch is stored once (the writer drops a repeated
 * eventId), and times must fall inside the session's life (5 minutes of skew).
 */
import * as z from 'zod';
import {
  ActionDetail,
  type AuditEvent,
  HealthDetail,
  IntentDetail,
  parseAuditEvent,
  SCHEMA_VERSION,
  SecurityDetail,
  uuidv7Time,
} from '../../audit/schema.ts';
import type { AuditSink } from '../../sessions/audit.ts';
import { LIVE } from '../../sessions/model.ts';
import { ConflictError, ValidationError } from '../../shared/errors.ts';
import type { Binding } from './binding.ts';

export const AGENT_SOURCE = 'aidops.agent';
export const MAX_TELEMETRY_EVENTS = 50;
const SKEW_MS = 5 * 60_000;

// The audit schema's event id form (schema.ts): a lowercase UUIDv7.
const EventId = z
  .string()
  .regex(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/, 'must be a lowercase UUIDv7');
const Time = z.iso.datetime({ offset: false });
const AgentSecurityDetail = SecurityDetail.refine((d) => d.type !== 'attestation_result', {
  message: 'attestation verdicts come from the control plane, not the agent',
  path: ['type'],
});

export const TelemetryEvent = z.discriminatedUnion('kind', [
  z.strictObject({ eventId: EventId, time: Time, kind: z.literal('intent'), detail: IntentDetail }),
  z.strictObject({ eventId: EventId, time: Time, kind: z.literal('action'), detail: ActionDetail }),
  z.strictObject({ eventId: EventId, time: Time, kind: z.literal('health'), detail: HealthDetail }),
  z.strictObject({ eventId: EventId, time: Time, kind: z.literal('security'), detail: AgentSecurityDetail }),
]);
export const TelemetryBatch = z.strictObject({
  events: z.array(TelemetryEvent).min(1).max(MAX_TELEMETRY_EVENTS),
});
export type TelemetryBatch = z.output<typeof TelemetryBatch>;

export interface TelemetryDeps {
  readonly audit: AuditSink;
  readonly now: () => Date;
}

export async function acceptTelemetry(
  b: Binding,
  batch: TelemetryBatch,
  deps: TelemetryDeps,
): Promise<{ sessionId: string; accepted: number; eventIds: string[] }> {
  const s = b.session;
  if (!(LIVE as readonly string[]).includes(s.status))
    throw new ConflictError(`session ${s.sessionId} is ${s.status}: it takes no more telemetry`, { status: s.status });
  const earliest = Date.parse(s.requestedAt ?? '') - SKEW_MS;
  const latest = deps.now().getTime() + SKEW_MS;
  const outside = (ms: number) => !(ms >= earliest && ms <= latest);
  const issues: { path: string; message: string }[] = [];
  batch.events.forEach((e, i) => {
    if (outside(Date.parse(e.time)))
      issues.push({ path: `events[${i}].time`, message: 'outside the session’s life (5 minutes of skew)' });
    if (outside(uuidv7Time(e.eventId)))
      issues.push({ path: `events[${i}].eventId`, message: 'its time is outside the session’s life' });
  });
  if (issues.length > 0)
    throw new ValidationError(
      `invalid telemetry batch: ${issues
        .slice(0, 5)
        .map((x) => `${x.path}: ${x.message}`)
        .join('; ')}`,
      issues,
    );
  const events: AuditEvent[] = batch.events.map((e) =>
    parseAuditEvent({
      schemaVersion: SCHEMA_VERSION,
      eventId: e.eventId,
      time: e.time,
      kind: e.kind,
      detail: e.detail,
      sessionId: s.sessionId,
      sandboxId: b.instanceId,
      user: s.user ? { id: s.user, type: 'human' } : null,
      policyVersion: s.policyVersion ?? null,
      source: AGENT_SOURCE,
    }),
  );
  await deps.audit(events);
  return { sessionId: s.sessionId, accepted: events.length, eventIds: events.map((e) => e.eventId) };
}
