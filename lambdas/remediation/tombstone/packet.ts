/**
 * The evidence packet's content: one JSON manifest per incident naming
 * everything a responder or a court needs to find and check the evidence
 * (instance metadata, security groups before and after, snapshots, the session's
 * audit objects with their hashes, and this workflow's timeline). Pure: the
 * evidence step gathers the inputs and writes the result. A packet says whether
 * it is complete: `incomplete` names each step that failed (the workflow went
 * on without it) and an audit trail that had not caught up with the incident.
 */
import type { Instance, Snapshot } from '@aws-sdk/client-ec2';
import { normalizePrefix } from '../../audit/chain.ts';
import { Tags, tagValue } from '../../shared/tags.ts';
import { consoleUrl, type Where } from '../addresses.ts';
import type { AuditObjectRef, AuditTrailStatus } from './audit-objects.ts';
import type { SessionEndResult } from './end-session.ts';
import type { FailedStep } from './failed-step.ts';
import type { FreezeResult } from './freeze.ts';
import type { IsolationResult } from './isolate.ts';
import type { RevokeResult } from './revoke.ts';
import type { Target } from './target.ts';
import type { TimelineEntry } from './timeline.ts';

export const PACKET_FORMAT = 'aidops.evidence-packet/1' as const;

export function packetKey(prefix: string, sessionOrInstance: string, incidentId: string): string {
  return `${normalizePrefix(prefix)}${sessionOrInstance}/${incidentId}/packet.json`;
}

/** The incident report (HTML) beside the packet, under the same prefix, lock and hold. */
export function reportKey(prefix: string, sessionOrInstance: string, incidentId: string): string {
  return `${normalizePrefix(prefix)}${sessionOrInstance}/${incidentId}/report.html`;
}

export interface PacketInputs {
  readonly target: Target;
  readonly isolation: IsolationResult;
  readonly credentials: RevokeResult | FailedStep;
  /** null: the workflow had no session-end step (an older execution). */
  readonly sessionEnd: SessionEndResult | FailedStep | null;
  readonly freeze: FreezeResult;
  /** The instance as described now, after isolation and freeze. */
  readonly instanceAfter: Instance | undefined;
  readonly snapshots: readonly Snapshot[];
  /** The snapshot child failed (the workflow went on without snapshots). */
  readonly snapshotFailure: { error: string; cause: string; paged: boolean } | null;
  readonly audit: {
    bucket: string;
    prefix: string;
    objects: AuditObjectRef[];
    truncated: boolean;
    /** null: no session, no audit trail. */
    status: AuditTrailStatus | null;
  };
  readonly timeline: TimelineEntry[];
  readonly where: Where;
  readonly createdAt: Date;
}

export interface IncompleteEntry {
  readonly step: string;
  readonly error: string;
  readonly cause: string;
}

/** What the packet lacks: each step that failed while the workflow went on, and an audit trail behind. */
function incompleteOf(p: PacketInputs): IncompleteEntry[] {
  const out: IncompleteEntry[] = [];
  for (const r of [p.credentials, p.sessionEnd])
    if (r && 'failed' in r) out.push({ step: r.step, error: r.error, cause: r.cause });
  if (p.snapshotFailure)
    out.push({
      step: 'Snapshot every volume (evidence)',
      error: p.snapshotFailure.error,
      cause: p.snapshotFailure.cause,
    });
  if (p.audit.status && !p.audit.status.complete)
    out.push({ step: 'Wait for the audit trail', error: 'AuditTrailBehind', cause: p.audit.status.reason ?? '' });
  return out;
}

function credentialsOf(c: RevokeResult | FailedStep) {
  if ('failed' in c) return { failed: true, error: c.error, cause: c.cause, paged: c.paged };
  return {
    revokedBefore: c.revokedBefore,
    role: c.role,
    policyName: c.policyName,
    revocationSet: c.revocationSet,
    instanceProfile: c.instanceProfile,
    secrets: c.secrets,
  };
}

export function buildPacket(p: PacketInputs) {
  const { target: t, isolation, credentials, freeze: frozen, instanceAfter: inst } = p;
  const incomplete = incompleteOf(p);
  return {
    format: PACKET_FORMAT,
    /** false: see `incomplete` for what is missing and why. */
    complete: incomplete.length === 0,
    incomplete,
    incidentId: t.incidentId,
    execution: t.executionId,
    createdAt: p.createdAt.toISOString(),
    sessionId: t.sessionId,
    instanceId: t.instanceId,
    /** The session's tier (its instance's tag), for the playbook; null when untagged. */
    tier: tagValue(inst?.Tags, Tags.Tier) ?? null,
    request: {
      reason: t.request.reason,
      source: t.request.source,
      requestedBy: t.request.requestedBy,
    },
    instance: {
      before: t.instance,
      after: inst
        ? {
            state: inst.State?.Name,
            networkInterfaces: (inst.NetworkInterfaces ?? []).map((n) => ({
              id: n.NetworkInterfaceId,
              groups: (n.Groups ?? []).map((g) => g.GroupId),
            })),
            iamInstanceProfile: inst.IamInstanceProfile?.Arn ?? null,
          }
        : null,
    },
    securityGroups: {
      original: isolation.originalGroups,
      before: isolation.groupsBefore,
      after: isolation.groupsAfter,
    },
    isolation: {
      startedAt: isolation.startedAt,
      quarantineAppliedAt: isolation.quarantineAppliedAt,
      finishedAt: isolation.finishedAt,
      terminationProtection: isolation.terminationProtection,
      deleteOnTerminationDisabled: isolation.deleteOnTerminationDisabled,
      elasticIps: isolation.elasticIps,
      networkAcl: isolation.networkAcl,
    },
    credentials: credentialsOf(credentials),
    session: p.sessionEnd
      ? 'failed' in p.sessionEnd
        ? { failed: true, error: p.sessionEnd.error, cause: p.sessionEnd.cause }
        : {
            statusBefore: p.sessionEnd.statusBefore,
            marked: p.sessionEnd.marked,
            callback: p.sessionEnd.callback,
            answered: p.sessionEnd.answered,
          }
      : null,
    freeze: { mode: frozen.mode, commandId: frozen.commandId, requestedAt: frozen.requestedAt },
    snapshots: p.snapshots.map((s) => ({
      snapshotId: s.SnapshotId,
      volumeId: s.VolumeId,
      state: s.State,
      startTime: s.StartTime instanceof Date ? s.StartTime.toISOString() : s.StartTime,
      volumeSize: s.VolumeSize,
      encrypted: s.Encrypted,
      url: consoleUrl.snapshot(p.where, s.SnapshotId ?? ''),
    })),
    audit: {
      bucket: p.audit.bucket,
      prefix: normalizePrefix(p.audit.prefix),
      /** The pipeline had written the session's events up to the incident (else `reason`). */
      complete: p.audit.status?.complete ?? true,
      ...(p.audit.status?.reason && !p.audit.status.complete ? { reason: p.audit.status.reason } : {}),
      incidentAt: p.audit.status?.incidentAt ?? null,
      newestObjectAt: p.audit.status?.newestObjectAt ?? null,
      objects: p.audit.objects,
      truncated: p.audit.truncated,
    },
    /** Step Functions' own history of this execution (state names where the API gives them). */
    timeline: p.timeline,
    /** This workflow's step times as each step recorded them. */
    steps: [
      { step: 'validated', time: t.validatedAt },
      { step: 'isolation started', time: isolation.startedAt },
      { step: 'quarantine group applied', time: isolation.quarantineAppliedAt },
      { step: 'isolation finished', time: isolation.finishedAt },
      {
        step: 'credentials revoked (tokens issued before)',
        time: 'failed' in credentials ? null : credentials.revokedBefore,
      },
      { step: `freeze requested (${frozen.mode})`, time: frozen.requestedAt },
      { step: 'evidence packet written', time: p.createdAt.toISOString() },
    ].filter((x) => x.time),
  };
}
