/**
 * Teardown: the one exit of every session, normal or not. Revokes the
 * instance's credentials (instance profile disassociated), terminates it,
 * deletes its leftover volumes and its secrets bundle, clears the callback
 * tokens, and writes the final status and audit events. Idempotent: safe to
 * retry and safe on a session that never launched.
 *
 * A tombstoned session (marked by the tombstone in the session table, or its
 * instance tagged with an incident) ends `tombstoned` whatever path led here:
 * its instance and volumes are evidence and stay, and its secrets bundle stays
 * recoverable (the tombstone scheduled its deletion).
 */
import {
  DeleteVolumeCommand,
  DescribeIamInstanceProfileAssociationsCommand,
  DescribeInstancesCommand,
  DescribeVolumesCommand,
  DisassociateIamInstanceProfileCommand,
  type EC2Client,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { DeleteSecretCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import * as z from 'zod';
import { stepEvent } from '../audit/step-event.ts';
import { RemediationTags } from '../remediation/tags.ts';
import { awsCall } from '../shared/aws-errors.ts';
import { Tags, tagValue } from '../shared/tags.ts';
import { type AuditSink, lifecycleEvent, sessionStep } from './audit.ts';
import { type SessionTable, SessionTombstonedError } from './table.ts';

/** What the workflow says about why it tears down (set by the Pass state of each path). */
export const TeardownDirective = z.object({
  outcome: z.enum(['ended', 'failed', 'tombstoned']),
  /** Where the session was: admission, nonce, secrets, launch, boot, attestation, activation, active, ttl, end-signal. */
  stage: z.string().max(64),
  /** A Catch's { Error, Cause }. */
  failure: z.object({ Error: z.string().optional(), Cause: z.string().optional() }).optional(),
  /** The end signal's output: { endedBy, reason }. */
  signal: z.unknown().optional(),
  keepInstance: z.boolean().optional(),
});
export type TeardownDirective = z.input<typeof TeardownDirective>;

/** Lambda errors reach a Catch as JSON {errorType, errorMessage}; other errors as text. */
function causeText(cause: string | undefined): string {
  if (!cause) return '';
  try {
    const j = JSON.parse(cause) as { errorMessage?: string };
    if (typeof j.errorMessage === 'string') return j.errorMessage;
  } catch {
    // plain text
  }
  return cause;
}

/** A person-readable reason: "ended by alice: done", "ttl expired", "attestation: AttestationFailed: NONCE_MISMATCH: ...". */
export function teardownReason(d: TeardownDirective): string {
  if (d.stage === 'ttl') return 'ttl expired';
  if (d.stage === 'end-signal') {
    const s = (d.signal ?? {}) as { endedBy?: unknown; reason?: unknown };
    const by = typeof s.endedBy === 'string' ? s.endedBy : 'request';
    return `ended by ${by}${typeof s.reason === 'string' && s.reason ? `: ${s.reason}` : ''}`;
  }
  const err = d.failure?.Error ?? 'error';
  const cause = causeText(d.failure?.Cause);
  return `${d.stage}: ${err}${cause ? `: ${cause}` : ''}`.slice(0, 3000);
}

export interface TeardownInput {
  readonly sessionId: string;
  readonly executionArn?: string;
  readonly user?: string;
  readonly policyVersion?: string;
  /** Why the session ends: "ended by alice", "ttl expired", "AttestationFailed: NONCE_MISMATCH: ...". */
  readonly reason: string;
  readonly outcome: 'ended' | 'failed' | 'tombstoned';
  /** Tombstoned: the remediation workflow owns the instance and its volumes (evidence). */
  readonly keepInstance?: boolean;
}

export interface TeardownDeps {
  readonly ec2: EC2Client;
  readonly secrets: SecretsManagerClient;
  readonly table: SessionTable;
  readonly audit: AuditSink;
  readonly secretPrefix: string;
  readonly now?: () => Date;
  /** Days a tombstoned session's bundle stays recoverable (evidence). @default 30 */
  readonly secretRecoveryDays?: number;
}

export interface TeardownResult {
  readonly sessionId: string;
  readonly outcome: string;
  readonly reason: string;
  readonly terminated: string[];
  readonly volumesDeleted: string[];
  readonly secretDeleted: boolean;
}

const ignore =
  (...names: string[]) =>
  (e: Error) => {
    if (names.includes(e.name) || names.some((n) => String((e as { Code?: string }).Code) === n)) return undefined;
    throw e;
  };

/** Writes the final status; a tombstone that marked the session meanwhile makes it `tombstoned`. */
async function writeFinal(
  deps: TeardownDeps,
  sessionId: string,
  outcome: TeardownInput['outcome'],
  reason: string,
  now: Date,
): Promise<TeardownInput['outcome']> {
  const final = (o: TeardownInput['outcome']) =>
    deps.table.update(
      sessionId,
      { status: o, reason, endedAt: now.toISOString() },
      ['attestToken', 'endToken', 'nonce'],
      now,
    );
  try {
    await final(outcome);
    return outcome;
  } catch (e) {
    if (!(e instanceof SessionTombstonedError)) throw e;
    await final('tombstoned');
    return 'tombstoned';
  }
}

/** Deletes the session's bundle: for good, or (tombstoned) recoverably, as evidence. */
async function deleteBundle(deps: TeardownDeps, sessionId: string, keep: boolean): Promise<boolean> {
  return await awsCall('DeleteSecret session', () =>
    deps.secrets.send(
      new DeleteSecretCommand({
        SecretId: `${deps.secretPrefix}${sessionId}`,
        // Normally no recovery window: the bundle must not be restorable after the session.
        ...(keep ? { RecoveryWindowInDays: deps.secretRecoveryDays ?? 30 } : { ForceDeleteWithoutRecovery: true }),
      }),
    ),
  ).then(
    () => true,
    (e: Error) => {
      if (e.name === 'ResourceNotFoundException') return false;
      // Already scheduled for deletion (by the tombstone): it stays recoverable.
      if (keep && e.name === 'InvalidRequestException') return true;
      throw e;
    },
  );
}

export async function teardown(input: TeardownInput, deps: TeardownDeps): Promise<TeardownResult> {
  const now = (deps.now ?? (() => new Date()))();
  const item = await deps.table.get(input.sessionId);
  const w = {
    sessionId: input.sessionId,
    user: input.user ?? item?.user ?? null,
    policyVersion: input.policyVersion ?? item?.policyVersion ?? null,
  };
  const terminated: string[] = [];
  const volumesDeleted: string[] = [];
  let incident = item?.tombstonedBy;
  if (item && !incident) {
    try {
      await deps.table.update(input.sessionId, { status: 'ending', reason: input.reason }, [], now);
    } catch (e) {
      if (!(e instanceof SessionTombstonedError)) throw e;
      incident = String(e.details.incidentId ?? 'a tombstone');
    }
  }

  const d = await awsCall('DescribeInstances teardown', () =>
    deps.ec2.send(
      new DescribeInstancesCommand({
        Filters: [
          { Name: `tag:${Tags.SessionId}`, Values: [input.sessionId] },
          { Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped'] },
        ],
      }),
    ),
  );
  const instances = (d.Reservations ?? []).flatMap((r) => r.Instances ?? []);
  const instanceIds = instances.map((i) => i.InstanceId!);
  // An instance the tombstone has quarantined says so in its tags, even before the table does (a restore removes it).
  incident ??= instances
    .filter((i) => tagValue(i.Tags, RemediationTags.QuarantinedAt))
    .map((i) => tagValue(i.Tags, RemediationTags.IncidentId) ?? 'a tombstone')[0];
  const tombstoned = input.outcome === 'tombstoned' || incident !== undefined;
  const keep = input.keepInstance === true || tombstoned;
  const reason = incident && input.outcome !== 'tombstoned' ? `tombstoned by ${incident}` : input.reason;
  if (instanceIds.length > 0) {
    // Credentials first: no new instance-profile credentials once the profile is gone.
    const assoc = await awsCall('DescribeIamInstanceProfileAssociations', () =>
      deps.ec2.send(
        new DescribeIamInstanceProfileAssociationsCommand({
          Filters: [{ Name: 'instance-id', Values: instanceIds }],
        }),
      ),
    ).catch(() => ({ IamInstanceProfileAssociations: [] }));
    for (const a of assoc.IamInstanceProfileAssociations ?? []) {
      if (a.AssociationId && a.State !== 'disassociated')
        await awsCall('DisassociateIamInstanceProfile', () =>
          deps.ec2.send(new DisassociateIamInstanceProfileCommand({ AssociationId: a.AssociationId })),
        ).catch(ignore('InvalidAssociationID.NotFound'));
    }
    if (!keep) {
      await awsCall('TerminateInstances', () =>
        deps.ec2.send(new TerminateInstancesCommand({ InstanceIds: instanceIds })),
      );
      terminated.push(...instanceIds);
    }
  }
  if (!keep) {
    // Root volumes go with the instance; detached data volumes would outlive it.
    const v = await awsCall('DescribeVolumes teardown', () =>
      deps.ec2.send(
        new DescribeVolumesCommand({
          Filters: [
            { Name: `tag:${Tags.SessionId}`, Values: [input.sessionId] },
            { Name: 'status', Values: ['available'] },
          ],
        }),
      ),
    );
    for (const vol of v.Volumes ?? []) {
      await awsCall('DeleteVolume', () => deps.ec2.send(new DeleteVolumeCommand({ VolumeId: vol.VolumeId }))).catch(
        ignore('InvalidVolume.NotFound'),
      );
      volumesDeleted.push(vol.VolumeId!);
    }
  }
  const secretDeleted = await deleteBundle(deps, input.sessionId, tombstoned);
  const outcome = item
    ? await writeFinal(deps, input.sessionId, tombstoned ? 'tombstoned' : input.outcome, reason, now)
    : tombstoned
      ? 'tombstoned'
      : input.outcome;
  const summary = `${reason}; terminated ${terminated.join(',') || 'none'}; volumes ${volumesDeleted.length}; secrets ${secretDeleted ? (tombstoned ? 'scheduled for deletion' : 'deleted') : 'none'}`;
  await deps.audit([
    stepEvent(
      sessionStep({ ...w, instanceId: instanceIds[0] ?? null }, input.executionArn ?? item?.executionArn ?? '-'),
      'teardown',
      'succeeded',
      { error: outcome === 'ended' ? undefined : reason },
    ),
    lifecycleEvent(
      { ...w, instanceId: instanceIds[0] ?? null },
      outcome === 'ended' ? 'stopped' : outcome === 'tombstoned' ? 'quarantined' : 'failed',
      summary,
    ),
  ]);
  return {
    sessionId: input.sessionId,
    outcome,
    reason,
    terminated,
    volumesDeleted,
    secretDeleted,
  };
}
