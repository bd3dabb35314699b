/**
 * Isolate, built for speed: the first calls are the two
 * ModifyNetworkInterfaceAttribute calls per interface (transition group, then
 * quarantine group), so the quarantine group holds after two AWS calls per
 * interface. Everything else (termination protection, DeleteOnTermination,
 * elastic IPs, the optional subnet ACL, tags, audit events) comes after it holds.
 * Idempotent: an interface already on the quarantine group alone is never moved.
 */

import { MetricUnit } from '@aws-lambda-powertools/metrics';
import {
  CreateTagsCommand,
  DescribeAddressesCommand,
  DescribeInstanceAttributeCommand,
  DescribeNetworkInterfacesCommand,
  DisassociateAddressCommand,
  type EC2Client,
  ModifyInstanceAttributeCommand,
  ModifyNetworkInterfaceAttributeCommand,
} from '@aws-sdk/client-ec2';
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import * as z from 'zod';
import { newEvent } from '../../audit/schema.ts';
import { stepEvent } from '../../audit/step-event.ts';
import { awsCall } from '../../shared/aws-errors.ts';
import { IsoTime } from '../../shared/ids.ts';
import type { MetricSink } from '../../shared/middleware.ts';
import { audit, REMEDIATION_SOURCE, stepContext } from '../audit.ts';
import { IsolationIncompleteError } from '../errors.ts';
import { retryTransient } from '../retry.ts';
import { RemediationTags } from '../tags.ts';
import { Changes, PlannedChange } from './changes.ts';
import { isolateSubnet, SubnetAcl } from './subnet-acl.ts';
import { Groups, StepFields, type Target } from './target.ts';
import type { IsolationConfig } from './validate.ts';

export const IsolateInput = z.strictObject({
  ...StepFields,
  /** true after a failed attempt: re-read the interfaces before moving any (never reopen one). */
  recheck: z.boolean().default(false),
});
export type IsolateInput = z.output<typeof IsolateInput>;

export const IsolationResult = z.strictObject({
  dryRun: z.boolean(),
  startedAt: IsoTime,
  /** When the last interface got the quarantine group (null in a dry run). */
  quarantineAppliedAt: IsoTime.nullable(),
  finishedAt: IsoTime,
  groupsBefore: Groups,
  groupsAfter: Groups,
  originalGroups: Groups,
  movedInterfaces: z.array(z.string()),
  terminationProtection: z.strictObject({ before: z.boolean(), after: z.boolean() }),
  deleteOnTerminationDisabled: z.array(z.string()),
  elasticIps: z.array(
    z.strictObject({ allocationId: z.string().nullable(), associationId: z.string(), publicIp: z.string().nullable() }),
  ),
  networkAcl: SubnetAcl.nullable(),
  planned: z.array(PlannedChange),
});
export type IsolationResult = z.output<typeof IsolationResult>;

export interface IsolateDeps {
  readonly ec2: EC2Client;
  readonly eventBridge?: EventBridgeClient;
  readonly busName?: string;
  readonly config: IsolationConfig;
  readonly now?: () => Date;
  /** Operations metrics: TimeToIsolation. */
  readonly metric?: MetricSink;
}

async function modifyEni(ec2: EC2Client, eni: string, groups: string[]): Promise<void> {
  await retryTransient(() =>
    awsCall('ec2:ModifyNetworkInterfaceAttribute', () =>
      ec2.send(new ModifyNetworkInterfaceAttributeCommand({ NetworkInterfaceId: eni, Groups: groups })),
    ),
  );
}

async function currentGroups(ec2: EC2Client, eniIds: string[]): Promise<Record<string, string[]>> {
  if (eniIds.length === 0) return {};
  const out = await awsCall('ec2:DescribeNetworkInterfaces', () =>
    ec2.send(new DescribeNetworkInterfacesCommand({ NetworkInterfaceIds: eniIds })),
  );
  return Object.fromEntries(
    (out.NetworkInterfaces ?? []).map((n) => [n.NetworkInterfaceId!, (n.Groups ?? []).map((g) => g.GroupId!)]),
  );
}

const onlyQuarantine = (groups: readonly string[] | undefined, q: string) => groups?.length === 1 && groups[0] === q;

async function disassociate(ec2: EC2Client, associationId: string) {
  return await awsCall('ec2:DisassociateAddress', async () => {
    try {
      return await ec2.send(new DisassociateAddressCommand({ AssociationId: associationId }));
    } catch (e) {
      // Already gone (a retried step): the end state holds.
      if ((e as Error).name === 'InvalidAssociationID.NotFound') return {};
      throw e;
    }
  });
}

/** Tags that record the isolation; the original groups only on the first one, and only if they fit a tag. */
function isolationTags(t: Target, quarantinedAt: string): { Key: string; Value: string }[] {
  const tags: { Key: string; Value: string }[] = [
    { Key: RemediationTags.QuarantinedAt, Value: quarantinedAt },
    { Key: RemediationTags.IncidentId, Value: t.incidentId },
  ];
  const original = JSON.stringify(t.originalGroups);
  // Tag values are at most 256 characters; the packet keeps the groups either way.
  if (!t.alreadyQuarantined && original.length <= 256)
    tags.push({ Key: RemediationTags.PreQuarantineGroups, Value: original });
  return tags;
}

export async function isolate(deps: IsolateDeps, input: IsolateInput): Promise<IsolationResult> {
  const now = deps.now ?? (() => new Date());
  const t = input.target;
  const { ec2, config } = deps;
  const q = config.quarantineGroupId;
  const started = now();
  const changes = new Changes(t.request.dryRun);
  const eniIds = t.enis.map((e) => e.id);

  // 1. The critical path: ≤ 2 calls per interface until the quarantine group holds.
  const before = input.recheck
    ? await currentGroups(ec2, eniIds)
    : Object.fromEntries(t.enis.map((e) => [e.id, e.groups]));
  // An interface already on the quarantine group alone is never moved to the allow-all group again.
  const toMove = eniIds.filter((id) => !onlyQuarantine(before[id], q));
  const move = (id: string, group: string, why: string) =>
    changes.applyOrPlan(
      { action: 'ec2:ModifyNetworkInterfaceAttribute', resource: id, detail: `groups → [${group}] (${why})` },
      () => modifyEni(ec2, id, [group]),
    );
  // All interfaces at once: the per-interface order (transition, then quarantine) is what matters.
  await Promise.all(toMove.map((id) => move(id, config.transitionGroupId, 'transition')));
  await Promise.all(toMove.map((id) => move(id, q, 'quarantine')));
  const quarantineAppliedAt = changes.dryRun ? null : now().toISOString();
  // Measured from the triggering event's own time; a retried step (nothing moved) does not count again.
  if (quarantineAppliedAt && toMove.length > 0 && t.request.triggeredAt)
    deps.metric?.(
      'TimeToIsolation',
      MetricUnit.Seconds,
      (Date.parse(quarantineAppliedAt) - Date.parse(t.request.triggeredAt)) / 1000,
    );

  // 2. Everything else, after the quarantine group holds.
  if (!changes.dryRun && toMove.length > 0) {
    // The instance-level view of the primary interface, kept in step. A no-op in AWS (the primary
    // interface already has exactly this group); moto unions it into the interface's groups.
    await awsCall('ec2:ModifyInstanceAttribute', () =>
      ec2.send(new ModifyInstanceAttributeCommand({ InstanceId: t.instanceId, Groups: [q] })),
    );
  }
  const tp = await awsCall('ec2:DescribeInstanceAttribute', () =>
    ec2.send(new DescribeInstanceAttributeCommand({ InstanceId: t.instanceId, Attribute: 'disableApiTermination' })),
  );
  const protectedBefore = tp.DisableApiTermination?.Value === true;
  if (!protectedBefore)
    await changes.applyOrPlan(
      { action: 'ec2:ModifyInstanceAttribute', resource: t.instanceId, detail: 'DisableApiTermination → true' },
      () =>
        awsCall('ec2:ModifyInstanceAttribute', () =>
          ec2.send(
            new ModifyInstanceAttributeCommand({ InstanceId: t.instanceId, DisableApiTermination: { Value: true } }),
          ),
        ),
    );
  const dot = t.volumes.filter((v) => v.deleteOnTermination && v.device);
  if (dot.length > 0)
    await changes.applyOrPlan(
      dot.map((v) => ({
        action: 'ec2:ModifyInstanceAttribute',
        resource: v.id,
        detail: `${v.device} DeleteOnTermination → false`,
      })),
      () =>
        awsCall('ec2:ModifyInstanceAttribute', () =>
          ec2.send(
            new ModifyInstanceAttributeCommand({
              InstanceId: t.instanceId,
              BlockDeviceMappings: dot.map((v) => ({ DeviceName: v.device, Ebs: { DeleteOnTermination: false } })),
            }),
          ),
        ),
    );
  const addrs = await awsCall('ec2:DescribeAddresses', () =>
    ec2.send(new DescribeAddressesCommand({ Filters: [{ Name: 'instance-id', Values: [t.instanceId] }] })),
  );
  const elasticIps = (addrs.Addresses ?? [])
    .filter((a) => a.AssociationId)
    .map((a) => ({
      allocationId: a.AllocationId ?? null,
      associationId: a.AssociationId!,
      publicIp: a.PublicIp ?? null,
    }));
  for (const a of elasticIps)
    await changes.applyOrPlan(
      { action: 'ec2:DisassociateAddress', resource: a.associationId, detail: a.publicIp ?? '' },
      () => disassociate(ec2, a.associationId),
    );
  const networkAcl =
    t.request.isolateSubnet && t.subnetId && t.vpcId
      ? await isolateSubnet(ec2, { vpcId: t.vpcId, subnetId: t.subnetId }, changes)
      : null;

  // 3. Bookkeeping a dry run skips (no planned entry): tags, and proof that only the quarantine group is left.
  let after = before;
  if (!changes.dryRun) {
    const tags = isolationTags(t, quarantineAppliedAt ?? started.toISOString());
    await awsCall('ec2:CreateTags', () => ec2.send(new CreateTagsCommand({ Resources: [t.instanceId], Tags: tags })));
    after = await currentGroups(ec2, eniIds);
    const open = eniIds.filter((id) => !onlyQuarantine(after[id], q));
    if (open.length > 0)
      throw new IsolationIncompleteError(`interfaces not on the quarantine group alone: ${open.join(', ')}`, {
        open,
        after,
      });
  }
  const finished = now();
  const ctx = stepContext(t, input.stateMachine);
  const suffix = changes.dryRun ? ' (dry run)' : '';
  const events = [
    stepEvent(ctx, `Validate the request${suffix}`, 'succeeded', { time: new Date(t.validatedAt) }),
    stepEvent(ctx, `Isolate the instance${suffix}`, 'succeeded', {
      durationMs: finished.getTime() - started.getTime(),
    }),
  ];
  const quarantined = changes.dryRun
    ? []
    : [
        newEvent('health', {
          source: REMEDIATION_SOURCE,
          sessionId: t.sessionId,
          detail: {
            type: 'lifecycle',
            state: 'quarantined',
            reason: `${t.incidentId}: ${t.request.reason}`.slice(0, 1024),
          },
        }),
      ];
  await audit(deps.eventBridge, deps.busName, [...events, ...quarantined]);
  return {
    dryRun: changes.dryRun,
    startedAt: started.toISOString(),
    quarantineAppliedAt,
    finishedAt: finished.toISOString(),
    groupsBefore: before,
    groupsAfter: after,
    originalGroups: t.originalGroups,
    movedInterfaces: toMove,
    terminationProtection: { before: protectedBefore, after: changes.dryRun ? protectedBefore : true },
    deleteOnTerminationDisabled: dot.map((v) => v.id),
    elasticIps,
    networkAcl,
    planned: changes.planned,
  };
}
