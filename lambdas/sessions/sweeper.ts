/**
 * Orphan sweeper: finds instances, volumes, snapshots (past their expiry) and
 * secrets tagged with a session that is no longer live — its execution ended,
 * its TTL passed, or it has no session record — and removes them, auditing
 * each action. Dry run by default on a new deployment: it only reports.
 *
 * Never touched: resources carrying an incident id (evidence under
 * remediation), snapshots without an expiry, and anything younger than the
 * grace period (a launch racing its own table write).
 */

import { MetricUnit } from '@aws-lambda-powertools/metrics';
import {
  DeleteSnapshotCommand,
  DeleteVolumeCommand,
  DescribeInstancesCommand,
  DescribeSnapshotsCommand,
  DescribeVolumesCommand,
  type EC2Client,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { DeleteSecretCommand, ListSecretsCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { awsCall } from '../shared/aws-errors.ts';
import type { MetricSink } from '../shared/middleware.ts';
import { Tags, tagValue } from '../shared/tags.ts';
import { type AuditSink, decisionEvent } from './audit.ts';
import { LIVE, type SessionStatus } from './model.ts';
import type { SessionItem, SessionTable } from './table.ts';
import { TIERS } from './tiers.ts';

export type SweepKind = 'instance' | 'volume' | 'snapshot' | 'secret';

export interface SweepAction {
  readonly kind: SweepKind;
  readonly id: string;
  readonly sessionId: string;
  readonly why: string;
  /** false in a dry run, or when the delete failed (see `error`). */
  readonly done: boolean;
  readonly error?: string;
}

export interface SweepReport {
  readonly dryRun: boolean;
  readonly at: string;
  readonly examined: Record<SweepKind, number>;
  readonly actions: SweepAction[];
  /** Left alone on purpose (incident evidence, too young, live session). */
  readonly kept: { kind: SweepKind; id: string; sessionId: string; why: string }[];
}

export interface SweepDeps {
  readonly ec2: EC2Client;
  readonly secrets: SecretsManagerClient;
  readonly table: SessionTable;
  readonly audit: AuditSink;
  readonly secretPrefix: string;
  /** Status of an execution (RUNNING, SUCCEEDED, ...), or undefined if unknown. */
  readonly executionStatus: (executionArn: string) => Promise<string | undefined>;
  readonly dryRun: boolean;
  readonly graceSeconds: number;
  readonly now?: () => Date;
  /** Operations metrics: SessionsActive by tier (a gauge, per sweep). */
  readonly metric?: MetricSink;
}

interface Found {
  kind: SweepKind;
  id: string;
  sessionId: string;
  createdAt?: Date;
  expiresAt?: string;
  incident?: string;
}

/** An EC2 resource found by its session tag (instances, volumes and snapshots carry the same tags). */
function taggedEc2(
  kind: SweepKind,
  id: string,
  tags: readonly { Key?: string; Value?: string }[] | undefined,
  createdAt?: Date,
): Found {
  return {
    kind,
    id,
    sessionId: tagValue(tags, Tags.SessionId)!,
    createdAt,
    expiresAt: tagValue(tags, Tags.ExpiresAt),
    incident: tagValue(tags, Tags.IncidentId),
  };
}

async function collect(deps: SweepDeps): Promise<Found[]> {
  const out: Found[] = [];
  const tagFilter = { Name: 'tag-key', Values: [Tags.SessionId] };
  let next: string | undefined;
  do {
    const r = await awsCall('DescribeInstances sweep', () =>
      deps.ec2.send(
        new DescribeInstancesCommand({
          Filters: [tagFilter, { Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped'] }],
          NextToken: next,
        }),
      ),
    );
    for (const i of (r.Reservations ?? []).flatMap((x) => x.Instances ?? []))
      out.push(taggedEc2('instance', i.InstanceId!, i.Tags, i.LaunchTime));
    next = r.NextToken;
  } while (next);
  do {
    const r = await awsCall('DescribeVolumes sweep', () =>
      deps.ec2.send(
        new DescribeVolumesCommand({
          Filters: [tagFilter, { Name: 'status', Values: ['available'] }],
          NextToken: next,
        }),
      ),
    );
    for (const v of r.Volumes ?? []) out.push(taggedEc2('volume', v.VolumeId!, v.Tags, v.CreateTime));
    next = r.NextToken;
  } while (next);
  do {
    const r = await awsCall('DescribeSnapshots sweep', () =>
      deps.ec2.send(new DescribeSnapshotsCommand({ OwnerIds: ['self'], Filters: [tagFilter], NextToken: next })),
    );
    for (const s of r.Snapshots ?? []) out.push(taggedEc2('snapshot', s.SnapshotId!, s.Tags, s.StartTime));
    next = r.NextToken;
  } while (next);
  do {
    const r = await awsCall('ListSecrets sweep', () =>
      deps.secrets.send(
        new ListSecretsCommand({ Filters: [{ Key: 'name', Values: [deps.secretPrefix] }], NextToken: next }),
      ),
    );
    for (const s of r.SecretList ?? []) {
      if (!s.Name?.startsWith(deps.secretPrefix)) continue;
      out.push({
        kind: 'secret',
        id: s.Name,
        sessionId: tagValue(s.Tags, Tags.SessionId) ?? s.Name.slice(deps.secretPrefix.length),
        createdAt: s.CreatedDate,
        expiresAt: tagValue(s.Tags, Tags.ExpiresAt),
      });
    }
    next = r.NextToken;
  } while (next);
  return out;
}

/** Why a session is not live, or undefined if it is. */
async function deadReason(item: SessionItem | undefined, deps: SweepDeps, now: Date): Promise<string | undefined> {
  if (!item) return 'no session record';
  if (!(LIVE as readonly SessionStatus[]).includes(item.status)) return `session ${item.status}`;
  const exp = item.expiresAt ? Date.parse(item.expiresAt) : Number.NaN;
  if (Number.isFinite(exp) && exp + deps.graceSeconds * 1000 < now.getTime()) return `ttl passed at ${item.expiresAt}`;
  if (item.executionArn) {
    const st = await deps.executionStatus(item.executionArn);
    if (st && st !== 'RUNNING') return `execution ${st.toLowerCase()}`;
  }
  return undefined;
}

export async function sweep(deps: SweepDeps): Promise<SweepReport> {
  const now = (deps.now ?? (() => new Date()))();
  const found = await collect(deps);
  const examined: Record<SweepKind, number> = { instance: 0, volume: 0, snapshot: 0, secret: 0 };
  for (const f of found) examined[f.kind]++;
  const verdicts = new Map<string, string | undefined>();
  const activeByTier = new Map<string, number>();
  for (const id of new Set(found.map((f) => f.sessionId))) {
    const item = await deps.table.get(id);
    const dead = await deadReason(item, deps, now);
    verdicts.set(id, dead);
    if (!dead) activeByTier.set(item?.tier ?? 'unknown', (activeByTier.get(item?.tier ?? 'unknown') ?? 0) + 1);
  }
  // Live sessions that have resources, by tier; every tier in the config reports, 0 included, so the graph never gaps.
  for (const tier of new Set([...TIERS, ...activeByTier.keys()]))
    deps.metric?.('SessionsActive', MetricUnit.Count, activeByTier.get(tier) ?? 0, { Tier: tier });

  const actions: SweepAction[] = [];
  const kept: SweepReport['kept'] = [];
  const graceMs = deps.graceSeconds * 1000;
  for (const f of found) {
    const keep = (why: string) => kept.push({ kind: f.kind, id: f.id, sessionId: f.sessionId, why });
    if (f.incident) {
      keep(`incident ${f.incident} evidence`);
      continue;
    }
    if (f.createdAt && now.getTime() - f.createdAt.getTime() < graceMs) {
      keep('younger than the grace period');
      continue;
    }
    let why: string | undefined;
    if (f.kind === 'snapshot') {
      // Snapshots (known-good, forensic) have their own lifetime: only past their expiry.
      const exp = f.expiresAt ? Date.parse(f.expiresAt) : Number.NaN;
      if (!Number.isFinite(exp)) {
        keep('no expiry tag');
        continue;
      }
      if (exp + graceMs >= now.getTime()) {
        keep(`expires ${f.expiresAt}`);
        continue;
      }
      why = `snapshot expired at ${f.expiresAt}`;
    } else {
      why = verdicts.get(f.sessionId);
      if (!why) {
        keep('session live');
        continue;
      }
    }
    let done = false;
    let error: string | undefined;
    if (!deps.dryRun) {
      try {
        await remove(f, deps);
        done = true;
      } catch (e) {
        error = `${(e as Error).name}: ${(e as Error).message}`;
      }
    }
    actions.push({ kind: f.kind, id: f.id, sessionId: f.sessionId, why, done, ...(error ? { error } : {}) });
  }
  if (actions.length > 0)
    await deps.audit(
      actions.map((a) =>
        decisionEvent(
          { sessionId: a.sessionId, instanceId: a.kind === 'instance' ? a.id : null },
          { kind: a.kind, id: a.id, why: a.why, dryRun: deps.dryRun },
          `sweep.${a.kind}.${deps.dryRun ? 'report' : 'delete'}`,
          a.id,
          'allow',
          [a.why, deps.dryRun ? 'dry run: not removed' : a.done ? 'removed' : `failed: ${a.error}`],
        ),
      ),
    );
  return { dryRun: deps.dryRun, at: now.toISOString(), examined, actions, kept };
}

async function remove(f: Found, deps: SweepDeps): Promise<void> {
  switch (f.kind) {
    case 'instance':
      await awsCall('TerminateInstances sweep', () =>
        deps.ec2.send(new TerminateInstancesCommand({ InstanceIds: [f.id] })),
      );
      return;
    case 'volume':
      await awsCall('DeleteVolume sweep', () => deps.ec2.send(new DeleteVolumeCommand({ VolumeId: f.id })));
      return;
    case 'snapshot':
      await awsCall('DeleteSnapshot sweep', () => deps.ec2.send(new DeleteSnapshotCommand({ SnapshotId: f.id })));
      return;
    case 'secret':
      await awsCall('DeleteSecret sweep', () =>
        deps.secrets.send(new DeleteSecretCommand({ SecretId: f.id, ForceDeleteWithoutRecovery: true })),
      );
      return;
  }
}
