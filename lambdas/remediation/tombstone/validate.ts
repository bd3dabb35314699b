/**
 * Validate: checks the request and reads the instance once. No writes and no
 * audit call: isolation is next, and its events record this step too.
 */
import { createHash } from 'node:crypto';
import type { EC2Client, Instance } from '@aws-sdk/client-ec2';
import * as z from 'zod';
import { tagValue } from '../../shared/tags.ts';
import { parseOrThrow } from '../../shared/validation.ts';
import { ExecutionArn } from '../addresses.ts';
import { resolveInstance } from '../instances.ts';
import { RemediationTags } from '../tags.ts';
import { TombstoneRequest } from './request.ts';
import { type EniState, Groups, type Target } from './target.ts';

export interface IsolationConfig {
  readonly quarantineGroupId: string;
  readonly transitionGroupId: string;
}

export const ValidateInput = z.strictObject({
  /** The execution input, checked here against TombstoneRequest. */
  request: z.unknown(),
  executionId: ExecutionArn,
  executionName: z.string().regex(/^[A-Za-z0-9_-]{1,80}$/),
});
export type ValidateInput = z.output<typeof ValidateInput>;

function instanceMetadata(i: Instance) {
  return {
    instanceId: i.InstanceId,
    imageId: i.ImageId,
    instanceType: i.InstanceType,
    launchTime: i.LaunchTime instanceof Date ? i.LaunchTime.toISOString() : i.LaunchTime,
    state: i.State?.Name,
    privateIpAddress: i.PrivateIpAddress,
    publicIpAddress: i.PublicIpAddress,
    vpcId: i.VpcId,
    subnetId: i.SubnetId,
    availabilityZone: i.Placement?.AvailabilityZone,
    iamInstanceProfile: i.IamInstanceProfile?.Arn,
    rootDeviceName: i.RootDeviceName,
    blockDevices: (i.BlockDeviceMappings ?? []).map((b) => ({
      device: b.DeviceName,
      volumeId: b.Ebs?.VolumeId,
      deleteOnTermination: b.Ebs?.DeleteOnTermination,
    })),
    networkInterfaces: (i.NetworkInterfaces ?? []).map((n) => ({
      id: n.NetworkInterfaceId,
      subnetId: n.SubnetId,
      privateIp: n.PrivateIpAddress,
      publicIp: n.Association?.PublicIp,
      groups: (n.Groups ?? []).map((g) => g.GroupId),
    })),
    tags: Object.fromEntries((i.Tags ?? []).map((t) => [t.Key, t.Value])),
  };
}

/** The groups recorded before the first isolation: a tag on an instance isolated before wins. */
function originalGroupsOf(i: Instance, enis: readonly EniState[]): Record<string, string[]> {
  const current = Object.fromEntries(enis.map((e) => [e.id, e.groups]));
  const tagged = tagValue(i.Tags, RemediationTags.PreQuarantineGroups);
  if (!tagged) return current;
  try {
    return { ...current, ...Groups.parse(JSON.parse(tagged)) };
  } catch {
    // A malformed tag is ignored: the current groups are the best record left.
    return current;
  }
}

export async function validateTombstone(
  ec2: EC2Client,
  input: ValidateInput,
  cfg: IsolationConfig,
  now: Date = new Date(),
): Promise<Target> {
  const request = parseOrThrow(TombstoneRequest, input.request, 'tombstone request');
  const inst = await resolveInstance(ec2, request);
  const i = inst.instance;
  const enis: EniState[] = (i.NetworkInterfaces ?? []).map((n) => ({
    id: n.NetworkInterfaceId!,
    groups: (n.Groups ?? []).map((g) => g.GroupId!).filter(Boolean),
    subnetId: n.SubnetId ?? null,
    publicIp: n.Association?.PublicIp ?? null,
  }));
  const alreadyQuarantined =
    enis.length > 0 && enis.every((e) => e.groups.length === 1 && e.groups[0] === cfg.quarantineGroupId);
  return {
    incidentId: input.executionName,
    executionId: input.executionId,
    request,
    instanceId: inst.instanceId,
    sessionId: inst.sessionId,
    state: inst.state,
    vpcId: i.VpcId ?? null,
    subnetId: i.SubnetId ?? null,
    availabilityZone: i.Placement?.AvailabilityZone ?? null,
    enis,
    originalGroups: originalGroupsOf(i, enis),
    volumes: (i.BlockDeviceMappings ?? [])
      .filter((b) => b.Ebs?.VolumeId)
      .map((b) => ({
        id: b.Ebs!.VolumeId!,
        device: b.DeviceName ?? '',
        deleteOnTermination: b.Ebs?.DeleteOnTermination === true,
      })),
    rootDevice: i.RootDeviceName ?? null,
    instanceProfileArn: i.IamInstanceProfile?.Arn ?? null,
    hibernationConfigured: i.HibernationOptions?.Configured === true,
    alreadyQuarantined,
    evidenceExecutionName: `evidence-${createHash('sha256').update(input.executionName).digest('hex').slice(0, 40)}`,
    validatedAt: now.toISOString(),
    instance: instanceMetadata(i),
  };
}
