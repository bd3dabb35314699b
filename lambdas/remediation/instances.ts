import { DescribeInstancesCommand, type EC2Client, type Instance } from '@aws-sdk/client-ec2';
import { awsCall } from '../shared/aws-errors.ts';
import { AidopsError } from '../shared/errors.ts';
import { Tags, tagValue } from '../shared/tags.ts';

/** The session or instance a request names does not exist (or is terminated). */
export class InstanceNotFoundError extends AidopsError {
  override name = 'InstanceNotFoundError' as const;
}

/**
 * The instance a request names carries no session tag: remediation acts on session
 * instances only (its grants are conditioned on that tag too).
 */
export class NotASessionInstanceError extends AidopsError {
  override name = 'NotASessionInstanceError' as const;
}

export interface InstanceRef {
  readonly sessionId?: string | undefined;
  readonly instanceId?: string | undefined;
}

export interface ResolvedInstance {
  readonly instanceId: string;
  readonly sessionId: string;
  readonly state: string;
  readonly volumeIds: string[];
  readonly networkInterfaceIds: string[];
  readonly securityGroupIds: string[];
  readonly instance: Instance;
}

const LIVE_STATES = ['pending', 'running', 'stopping', 'stopped'];

/** Finds the live instance of a session (by tag) or by id; an instance without the session tag is refused. */
export async function resolveInstance(ec2: EC2Client, ref: InstanceRef): Promise<ResolvedInstance> {
  const filters = [{ Name: 'instance-state-name', Values: LIVE_STATES }];
  if (ref.sessionId) filters.push({ Name: `tag:${Tags.SessionId}`, Values: [ref.sessionId] });
  const out = await awsCall('ec2:DescribeInstances', async () => {
    try {
      return await ec2.send(
        new DescribeInstancesCommand({ Filters: filters, InstanceIds: ref.instanceId ? [ref.instanceId] : undefined }),
      );
    } catch (e) {
      if ((e as Error).name === 'InvalidInstanceID.NotFound' || (e as Error).name === 'InvalidInstanceID.Malformed')
        return { Reservations: [] };
      throw e;
    }
  });
  const instances = (out.Reservations ?? []).flatMap((r) => r.Instances ?? []);
  const what = ref.instanceId ? `instance ${ref.instanceId}` : `session ${ref.sessionId}`;
  if (instances.length === 0) throw new InstanceNotFoundError(`${what}: no live instance found`, { ...ref });
  if (instances.length > 1) {
    throw new InstanceNotFoundError(`${what}: ${instances.length} live instances match; name one with instanceId`, {
      ...ref,
      instanceIds: instances.map((i) => i.InstanceId),
    });
  }
  const inst = instances[0]!;
  if (ref.sessionId && ref.instanceId && tagValue(inst.Tags, Tags.SessionId) !== ref.sessionId) {
    throw new InstanceNotFoundError(`instance ${ref.instanceId} does not belong to session ${ref.sessionId}`, {
      ...ref,
    });
  }
  const sessionId = tagValue(inst.Tags, Tags.SessionId);
  if (!sessionId) {
    throw new NotASessionInstanceError(
      `instance ${inst.InstanceId} is not a session instance (no ${Tags.SessionId} tag)`,
      {
        ...ref,
      },
    );
  }
  return {
    instanceId: inst.InstanceId!,
    sessionId,
    state: inst.State?.Name ?? 'unknown',
    volumeIds: (inst.BlockDeviceMappings ?? []).map((b) => b.Ebs?.VolumeId).filter((v): v is string => !!v),
    networkInterfaceIds: (inst.NetworkInterfaces ?? []).map((n) => n.NetworkInterfaceId!).filter(Boolean),
    securityGroupIds: (inst.SecurityGroups ?? []).map((g) => g.GroupId!).filter(Boolean),
    instance: inst,
  };
}
