/**
 * LOCAL STAND-IN for ec2:CreateReplaceRootVolumeTask / DescribeReplaceRootVolumeTasks
 * (moto has neither). It does what the real task does to the instance, with
 * calls moto has: a new volume from the snapshot in the instance's AZ, the old
 * root detached (kept, as AWS keeps it with DeleteReplacedRootVolume=false), the
 * new one attached at the root device. Idempotent by client token, like the real
 * call. Installed by `installStandins` (local harness only); in AWS the real API runs.
 */
import {
  AttachVolumeCommand,
  CreateVolumeCommand,
  DescribeInstancesCommand,
  DetachVolumeCommand,
  type EC2Client,
} from '@aws-sdk/client-ec2';
import type { ReplaceRootVolumeTask, RootVolumeReplacer } from '../../lambdas/remediation/root-volume.ts';

export class LocalReplaceRootVolume implements RootVolumeReplacer {
  readonly name = 'local stand-in for ec2:CreateReplaceRootVolumeTask';
  readonly tasks = new Map<string, ReplaceRootVolumeTask & { instanceId: string; oldVolumeId: string | null }>();
  private readonly byToken = new Map<string, string>();

  async start(
    ec2: EC2Client,
    req: { instanceId: string; snapshotId: string; clientToken: string },
  ): Promise<ReplaceRootVolumeTask> {
    const known = this.byToken.get(req.clientToken);
    if (known) return this.tasks.get(known)!;
    const d = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [req.instanceId] }));
    const inst = d.Reservations?.[0]?.Instances?.[0];
    if (!inst)
      throw Object.assign(new Error(`instance ${req.instanceId} not found`), { name: 'InvalidInstanceID.NotFound' });
    const maps = inst.BlockDeviceMappings ?? [];
    const root = maps.find((b) => b.DeviceName === inst.RootDeviceName) ?? maps[0];
    const device = root?.DeviceName ?? inst.RootDeviceName ?? '/dev/xvda';
    const vol = await ec2.send(
      new CreateVolumeCommand({
        SnapshotId: req.snapshotId,
        AvailabilityZone: inst.Placement?.AvailabilityZone ?? 'us-east-1a',
        TagSpecifications: [
          { ResourceType: 'volume', Tags: [{ Key: 'aidops:standin', Value: 'CreateReplaceRootVolumeTask' }] },
        ],
      }),
    );
    if (root?.Ebs?.VolumeId) {
      await ec2.send(new DetachVolumeCommand({ VolumeId: root.Ebs.VolumeId, InstanceId: req.instanceId, Force: true }));
    }
    await ec2.send(new AttachVolumeCommand({ VolumeId: vol.VolumeId!, InstanceId: req.instanceId, Device: device }));
    const taskId = `replacevol-local${Math.random().toString(16).slice(2, 14)}`;
    const task = {
      taskId,
      state: 'succeeded',
      newVolumeId: vol.VolumeId,
      instanceId: req.instanceId,
      oldVolumeId: root?.Ebs?.VolumeId ?? null,
    };
    this.tasks.set(taskId, task);
    this.byToken.set(req.clientToken, taskId);
    return task;
  }

  async describe(_ec2: EC2Client, taskId: string): Promise<ReplaceRootVolumeTask> {
    return this.tasks.get(taskId) ?? { taskId, state: 'failed' };
  }
}
