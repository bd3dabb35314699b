/**
 * The evidence packet's content: one JSON manifest per incident naming
 * everything a responder or a court needs to find and check the evidence
 * (instance metadata, security groups before and after, snapshots, the session's
 * audit objects with their hashes, and this workflow's timeline). Pure: the
 * evidence step gathers the inputs and writes the result.
 */
import type { Instance, Snapshot } from '@aws-sdk/client-ec2';
import { normalizePrefix } from '../../audit/chain.ts';
import { consoleUrl, type Where } from '../addresses.ts';
import type { AuditObjectRef } from './audit-objects.ts';
import type { FreezeResult } from './freeze.ts';
import type { IsolationResult } from './isolate.ts';
import type { RevokeResult } from './revoke.ts';
import type { Target } from './target.ts';
import type { TimelineEntry } from './timeline.ts';

export const PACKET_FORMAT = 'aidops.evidence-packet/1' as const;

export function packetKey(prefix: string, sessionOrInstance: string, incidentId: string): string {
  return `${normalizePrefix(prefix)}${sessionOrInstance}/${incidentId}/packet.json`;
}

export interface PacketInputs {
  readonly target: Target;
  readonly isolation: IsolationResult;
  readonly credentials: RevokeResult;
  readonly freeze: FreezeResult;
  /** The instance as described now, after isolation and freeze. */
  readonly instanceAfter: Instance | undefined;
  readonly snapshots: readonly Snapshot[];
  readonly audit: { bucket: string; prefix: string; objects: AuditObjectRef[]; truncated: boolean };
  readonly timeline: TimelineEntry[];
  readonly where: Where;
  readonly createdAt: Date;
}

export function buildPacket(p: PacketInputs) {
  const { target: t, isolation, credentials, freeze: frozen, instanceAfter: inst } = p;
  return {
    format: PACKET_FORMAT,
    incidentId: t.incidentId,
    execution: t.executionId,
    createdAt: p.createdAt.toISOString(),
    sessionId: t.sessionId,
    instanceId: t.instanceId,
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
    credentials: {
      revokedBefore: credentials.revokedBefore,
      role: credentials.role,
      policyName: credentials.policyName,
      instanceProfile: credentials.instanceProfile,
      secrets: credentials.secrets,
    },
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
      { step: 'credentials revoked (tokens issued before)', time: credentials.revokedBefore },
      { step: `freeze requested (${frozen.mode})`, time: frozen.requestedAt },
      { step: 'evidence packet written', time: p.createdAt.toISOString() },
    ].filter((x) => x.time),
  };
}
