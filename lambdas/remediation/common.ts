/**
 * What every remediation core shares: tag keys the workflows read back, the
 * audit-event helper (one `workflow` event per step), a bounded in-process retry
 * for the isolation critical path, and console links for outputs.
 */
import { createHash } from 'node:crypto';
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { type AuditEvent, newEvent, publishAuditEvents } from '../audit/schema.ts';
import { AidopsError, TransientError } from '../shared/errors.ts';

/** Source of every audit event the remediation workflows write. */
export const REMEDIATION_SOURCE = 'aidops.remediation' as const;

/** Tag keys the remediation workflows write on instances and snapshots (and read back on restore). */
export const RemediationTags = {
  /** JSON {eniId: [groupIds]} of the groups before the first isolation; never overwritten. */
  PreQuarantineGroups: 'aidops:pre-quarantine-groups',
  QuarantinedAt: 'aidops:quarantined-at',
  /** The tombstone execution name (incident id) that isolated the instance last. */
  IncidentId: 'aidops:incident-id',
  /** s3://bucket/key of the evidence packet. */
  EvidencePacket: 'aidops:evidence-packet',
  /** Evidence snapshots: never swept (the sweeper must skip snapshots carrying it). */
  LegalHold: 'aidops:legal-hold',
  /** Earlier root volume ids of the instance, so restore recognizes snapshots of a replaced root. */
  RootVolumeLineage: 'aidops:root-volume-lineage',
} as const;

/** The tombstone workflow could not complete isolation (the quarantine group does not hold). */
export class IsolationIncompleteError extends TransientError {}

/** A restore was rejected by the approver (the SendTaskFailure error name the CLI uses). */
export const APPROVAL_REJECTED = 'ApprovalRejected' as const;

/** The snapshot to restore from does not exist, is not the session's, or is not complete. */
export class SnapshotNotUsableError extends AidopsError {
  override name = 'SnapshotNotUsableError' as const;
}

/** The evidence packet named by the instance tags cannot be read (restore needs it). */
export class EvidencePacketError extends AidopsError {
  override name = 'EvidencePacketError' as const;
}

export interface StepContext {
  /** Execution ARN. */
  readonly executionId: string;
  readonly stateMachine: string;
  readonly sessionId: string | null;
  readonly requestedBy?: string | undefined;
}

export type StepStatus = 'started' | 'succeeded' | 'failed' | 'retrying' | 'caught' | 'timed_out';

/** A `workflow` audit event for one step of a remediation workflow. */
export function stepEvent(
  ctx: StepContext,
  step: string,
  status: StepStatus,
  extra: { error?: string; durationMs?: number; time?: Date } = {},
): AuditEvent {
  return newEvent('workflow', {
    source: REMEDIATION_SOURCE,
    sessionId: ctx.sessionId,
    user: ctx.requestedBy ? { id: ctx.requestedBy.slice(0, 1024), type: userType(ctx.requestedBy) } : null,
    time: extra.time,
    detail: {
      stateMachine: ctx.stateMachine,
      executionId: ctx.executionId,
      step: step.slice(0, 1024),
      status,
      ...(extra.error ? { error: extra.error.slice(0, 1024) } : {}),
      ...(extra.durationMs !== undefined ? { durationMs: Math.max(0, extra.durationMs) } : {}),
    },
  });
}

function userType(who: string): 'human' | 'agent' | 'service' {
  return who.startsWith('automatic') || who.startsWith('arn:') || who.startsWith('eventbridge') ? 'service' : 'human';
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

/**
 * Retries a TransientError a few times with short jittered backoff, in process.
 * Used only where a Step Functions Retry would cost too much time (isolation).
 */
export async function retryTransient<T>(
  fn: () => Promise<T>,
  attempts = 5,
  baseMs = 50,
  sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (e) {
      if (!(e instanceof TransientError) || i >= attempts) throw e;
      await sleep(Math.random() * baseMs * 2 ** i);
    }
  }
}

export function sha256Hex(s: string | Uint8Array): string {
  return createHash('sha256').update(s).digest('hex');
}

/** Console links a responder can click from an execution's output. */
export const consoleUrl = {
  opsItem: (region: string, id: string) =>
    `https://${region}.console.aws.amazon.com/systems-manager/opsitems/${id}?region=${region}`,
  s3Object: (region: string, bucket: string, key: string) =>
    `https://${region}.console.aws.amazon.com/s3/object/${bucket}?region=${region}&prefix=${encodeURIComponent(key)}`,
  snapshot: (region: string, id: string) =>
    `https://${region}.console.aws.amazon.com/ec2/home?region=${region}#SnapshotDetails:snapshotId=${id}`,
  instance: (region: string, id: string) =>
    `https://${region}.console.aws.amazon.com/ec2/home?region=${region}#InstanceDetails:instanceId=${id}`,
  execution: (region: string, arn: string) =>
    `https://${region}.console.aws.amazon.com/states/home?region=${region}#/v2/executions/details/${arn}`,
};

export function regionOf(env: NodeJS.ProcessEnv = process.env): string {
  return env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? 'us-east-1';
}

/** Name of the state machine in an execution ARN (arn:aws:states:r:a:execution:MACHINE:NAME). */
export function machineOfExecution(executionArn: string): string {
  return executionArn.split(':')[6] ?? 'unknown';
}
