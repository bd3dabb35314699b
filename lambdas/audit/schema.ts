/**
 * The audit event: one versioned envelope and a detail schema per kind.
 *
 * Everything that reaches the audit bucket went through `AuditEvent`; producers
 * build events with `newEvent` and put them on the bus with `publishAuditEvents`.
 * Detail objects are strict: an unknown field is rejected (with its path) instead
 * of silently stored, because the schema is the contract an auditor reads years later.
 * A breaking change bumps `SCHEMA_VERSION` and adds a new literal to the union.
 */
import { randomBytes } from 'node:crypto';
import { type EventBridgeClient, PutEventsCommand, type PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import * as z from 'zod';
import { awsCall } from '../shared/aws-errors.ts';
import { TransientError } from '../shared/errors.ts';
import { parseOrThrow } from '../shared/validation.ts';

export const SCHEMA_VERSION = 1 as const;

/** EventBridge fields every audit event carries; the ingest rule matches on them. */
export const AUDIT_EVENT_SOURCE = 'aidops' as const;
export const AUDIT_DETAIL_TYPE = 'AuditEvent' as const;

/** Chain id of events that belong to no session (control-plane decisions, workflows). */
export const CONTROL_PLANE_CHAIN = 'control-plane' as const;

// ---------------------------------------------------------------------------
// Event ids: UUIDv7 (RFC 9562), time-ordered so a chain sorts by id.

let lastMs = -1;
let counter = 0;

/**
 * A UUIDv7: 48-bit Unix ms, then a 12-bit counter that increases within one
 * millisecond (so ids made in one process are strictly increasing), then 62 random bits.
 */
export function uuidv7(nowMs: number = Date.now()): string {
  let ms = nowMs;
  if (ms <= lastMs) {
    ms = lastMs;
    counter++;
    if (counter > 0xfff) {
      // Counter exhausted inside one ms: borrow the next millisecond, still monotonic.
      ms = lastMs + 1;
      counter = 0;
    }
  } else {
    // Start low in the 12-bit space so the ms has room for many increments.
    counter = randomBytes(1)[0]! & 0x7f;
  }
  lastMs = ms;
  const b = randomBytes(16);
  b.writeUIntBE(ms, 0, 6);
  b[6] = 0x70 | ((counter >> 8) & 0x0f);
  b[7] = counter & 0xff;
  b[8] = 0x80 | (b[8]! & 0x3f);
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

const UUIDV7_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** The ms timestamp inside a UUIDv7. */
export function uuidv7Time(id: string): number {
  return Number.parseInt(id.slice(0, 8) + id.slice(9, 13), 16);
}

// ---------------------------------------------------------------------------
// Shared field types

/** Ids that become part of S3 keys: a safe, bounded alphabet. */
const Id = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]*$/, 'must be letters, digits, . _ : - (starting with a letter or digit)');
const Sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'must be a lowercase hex SHA-256');
const Text = z.string().max(65_536);
const Short = z.string().min(1).max(1024);
const Bytes = z.number().int().min(0);
const Outcome = z.enum(['success', 'denied', 'error']);
const Severity = z.enum(['low', 'medium', 'high', 'critical']);

// ---------------------------------------------------------------------------
// Detail schemas, one per kind; each is a union on `type`.

export const IntentDetail = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('prompt'), text: Text, model: Short.optional() }),
  z.strictObject({ type: z.literal('command'), command: Short, args: z.array(Text).max(256).optional() }),
  z.strictObject({
    type: z.literal('plugin_invocation'),
    plugin: Short,
    pluginVersion: Short.optional(),
    operation: Short,
    arguments: z.record(z.string(), z.unknown()).optional(),
  }),
]);

export const ActionDetail = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('fs_read'), path: Short, bytes: Bytes, outcome: Outcome }),
  z.strictObject({
    type: z.literal('fs_write'),
    path: Short,
    bytes: Bytes,
    outcome: Outcome,
    /** File contents, when the agent policy records them; sensitive by default. */
    content: Text.optional(),
  }),
  z.strictObject({
    type: z.literal('net_connect'),
    host: Short,
    port: z.number().int().min(0).max(65_535),
    protocol: z.enum(['tcp', 'udp', 'tls', 'http', 'https']),
    bytes: Bytes.optional(),
    outcome: Outcome,
  }),
  z.strictObject({
    type: z.literal('process_spawn'),
    executable: Short,
    args: z.array(Text).max(256).optional(),
    pid: z.number().int().min(0).optional(),
    outcome: Outcome,
  }),
  z.strictObject({
    type: z.literal('api_call'),
    service: Short,
    operation: Short,
    host: Short.optional(),
    statusCode: z.number().int().min(100).max(599).optional(),
    bytes: Bytes.optional(),
    outcome: Outcome,
  }),
]);

export const HealthDetail = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('metrics'),
    latencyMs: z.number().min(0),
    // Per-core percent summed, so above 100 on multi-core sandboxes.
    cpuPercent: z.number().min(0),
    memoryMb: z.number().min(0),
  }),
  z.strictObject({
    type: z.literal('lifecycle'),
    state: z.enum(['provisioning', 'attesting', 'running', 'stopping', 'stopped', 'failed', 'quarantined']),
    reason: Short.optional(),
  }),
]);

export const SecurityDetail = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('policy_violation'),
    rule: Short,
    severity: Severity,
    description: Text.optional(),
  }),
  z.strictObject({
    type: z.literal('escape_attempt'),
    technique: Short,
    severity: Severity,
    blocked: z.boolean(),
  }),
  z.strictObject({
    type: z.literal('integrity_failure'),
    component: Short,
    expected: Short,
    actual: Short,
  }),
  z.strictObject({
    type: z.literal('attestation_result'),
    verdict: z.enum(['pass', 'fail']),
    platform: Short.optional(),
    measurements: z.record(z.string(), z.string()).optional(),
    reason: Short.optional(),
    /** The session's profile pins no measurement: any image of its isolation kind was accepted. */
    unpinned: z.boolean().optional(),
  }),
  /** Connections a session's interface tried and the VPC rejected (flow logs, lambdas/network-watch). */
  z.strictObject({
    type: z.literal('suspicious_egress'),
    destination: Short,
    port: z.number().int().min(0).max(65_535),
    protocol: Short,
    /** Rejected flow records in the burst. */
    count: z.number().int().min(1),
    firstSeen: z.iso.datetime({ offset: false }),
    lastSeen: z.iso.datetime({ offset: false }),
    interfaceId: Short,
    /** The instance's tier tag when the watcher read it (the remediation reads the session table). */
    tier: Short.optional(),
    /** Identifies the burst: the same id on every delivery of it. */
    incidentId: Short,
  }),
]);

/** The control-plane state a policy decision used (looked up, never taken from the caller). */
export const DecisionState = z.strictObject({
  /** The session table's status, or `unknown` when there is no such session. */
  sessionStatus: Short,
  /** When the session item was read (the decider caches it for ≤ 10 s). */
  sessionReadAt: z.iso.datetime({ offset: false }),
  /** Unexpired scopes the session held at decision time, sorted. */
  scopesHeld: z.array(Short).max(64),
  /** Digest of the flag parameters (name, value, version) that apply to the session's cohort. */
  flagsVersion: Short.optional(),
  /** When the flags store was read (cached for ≤ 30 s). */
  flagsReadAt: z.iso.datetime({ offset: false }).optional(),
  /** Fields the caller sent that only the control plane may state; ignored. */
  callerClaimIgnored: z.array(Short).max(16).optional(),
});
export type DecisionState = z.output<typeof DecisionState>;

export const DecisionDetail = z.strictObject({
  engine: z.enum(['cedar', 'opa', 'guard']),
  /** SHA-256 of the canonical decision input: proves what was decided on without storing it. */
  inputDigest: Sha256Hex,
  action: Short.optional(),
  resource: Short.optional(),
  outcome: z.enum(['allow', 'deny']),
  reasons: z.array(Short).max(256),
  policyIds: z.array(Short).max(256).optional(),
  state: DecisionState.optional(),
});

export const WorkflowDetail = z.strictObject({
  stateMachine: Short,
  executionId: Short,
  step: Short,
  status: z.enum(['started', 'succeeded', 'failed', 'retrying', 'caught', 'timed_out']),
  error: Short.optional(),
  durationMs: z.number().min(0).optional(),
});

export const AUDIT_KINDS = ['intent', 'action', 'health', 'security', 'decision', 'workflow'] as const;
export type AuditKind = (typeof AUDIT_KINDS)[number];

export const User = z.strictObject({
  /** Principal id (IAM identity center user, role session, agent id); sensitive by default. */
  id: Short,
  type: z.enum(['human', 'agent', 'service']),
});

const envelope = {
  schemaVersion: z.literal(SCHEMA_VERSION),
  eventId: z.string().regex(UUIDV7_RE, 'must be a lowercase UUIDv7'),
  time: z.iso.datetime({ offset: false }),
  /** null: control-plane event (goes to the control-plane chain). */
  sessionId: Id.nullable(),
  sandboxId: Id.nullable(),
  user: User.nullable(),
  policyVersion: Short.nullable(),
  /** Component that emitted the event, e.g. `aidops.sessions`. */
  source: Short,
};

export const AuditEvent = z.discriminatedUnion('kind', [
  z.strictObject({ ...envelope, kind: z.literal('intent'), detail: IntentDetail }),
  z.strictObject({ ...envelope, kind: z.literal('action'), detail: ActionDetail }),
  z.strictObject({ ...envelope, kind: z.literal('health'), detail: HealthDetail }),
  z.strictObject({ ...envelope, kind: z.literal('security'), detail: SecurityDetail }),
  z.strictObject({ ...envelope, kind: z.literal('decision'), detail: DecisionDetail }),
  z.strictObject({ ...envelope, kind: z.literal('workflow'), detail: WorkflowDetail }),
]);
export type AuditEvent = z.output<typeof AuditEvent>;
export type AuditEventOf<K extends AuditKind> = Extract<AuditEvent, { kind: K }>;

/** Parses an event or throws ValidationError naming each bad field's path. */
export function parseAuditEvent(input: unknown): AuditEvent {
  return parseOrThrow(AuditEvent, input, 'audit event');
}

/** The chain an event belongs to. */
export function chainOf(e: Pick<AuditEvent, 'sessionId'>): string {
  return e.sessionId ?? CONTROL_PLANE_CHAIN;
}

// ---------------------------------------------------------------------------
// Producer helpers

export type NewEventFields<K extends AuditKind> = {
  readonly detail: AuditEventOf<K>['detail'];
  readonly source: string;
  readonly sessionId?: string | null;
  readonly sandboxId?: string | null;
  readonly user?: z.output<typeof User> | null;
  readonly policyVersion?: string | null;
  /** @default now */
  readonly time?: Date;
};

/** Builds a valid envelope (eventId, time, schemaVersion filled in); throws ValidationError if a field is bad. */
export function newEvent<K extends AuditKind>(kind: K, fields: NewEventFields<K>): AuditEventOf<K> {
  const t = fields.time ?? new Date();
  const raw = {
    schemaVersion: SCHEMA_VERSION,
    eventId: uuidv7(t.getTime()),
    time: t.toISOString(),
    kind,
    sessionId: fields.sessionId ?? null,
    sandboxId: fields.sandboxId ?? null,
    user: fields.user ?? null,
    policyVersion: fields.policyVersion ?? null,
    source: fields.source,
    detail: fields.detail,
  };
  return parseAuditEvent(raw) as AuditEventOf<K>;
}

/** The EventBridge entry for one event (Detail is the whole envelope). */
export function toPutEventsEntry(event: AuditEvent, busName: string): PutEventsRequestEntry {
  return {
    EventBusName: busName,
    Source: AUDIT_EVENT_SOURCE,
    DetailType: AUDIT_DETAIL_TYPE,
    Time: new Date(event.time),
    Detail: JSON.stringify(event),
  };
}

/** PutEvents accepts at most 10 entries per call. */
export const PUT_EVENTS_BATCH = 10;

/**
 * Publishes events in batches of 10. A partial failure (FailedEntryCount > 0) is a
 * TransientError listing the failed event ids, so a workflow can Retry the call;
 * events are idempotent by eventId.
 */
export async function publishAuditEvents(
  eventBridge: EventBridgeClient,
  busName: string,
  events: readonly AuditEvent[],
): Promise<{ published: number }> {
  const failed: { eventId: string; code?: string; message?: string }[] = [];
  for (let i = 0; i < events.length; i += PUT_EVENTS_BATCH) {
    const batch = events.slice(i, i + PUT_EVENTS_BATCH);
    const out = await awsCall('events:PutEvents', () =>
      eventBridge.send(
        new PutEventsCommand({ Entries: batch.map((e) => toPutEventsEntry(parseAuditEvent(e), busName)) }),
      ),
    );
    if ((out.FailedEntryCount ?? 0) > 0) {
      (out.Entries ?? []).forEach((r, j) => {
        if (r.ErrorCode) failed.push({ eventId: batch[j]?.eventId ?? '?', code: r.ErrorCode, message: r.ErrorMessage });
      });
      if (failed.length === 0) failed.push({ eventId: '?', message: `FailedEntryCount=${out.FailedEntryCount}` });
    }
  }
  if (failed.length > 0) {
    throw new TransientError(`PutEvents failed for ${failed.length} of ${events.length} audit events`, { failed });
  }
  return { published: events.length };
}
