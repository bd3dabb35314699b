/**
 * Root volume replacement. In AWS: CreateReplaceRootVolumeTask (the instance
 * keeps its ENIs, instance id and data volumes; the old root is kept detached as
 * evidence) and DescribeReplaceRootVolumeTasks. The local emulator has no such
 * API, so the local harness installs a stand-in (local/standins/) through
 * `installRootVolumeReplacer`; in AWS nothing is installed and the real calls run.
 */
import {
  CreateReplaceRootVolumeTaskCommand,
  DescribeReplaceRootVolumeTasksCommand,
  type EC2Client,
} from '@aws-sdk/client-ec2';
import { awsCall } from '../shared/aws-errors.ts';

export interface ReplaceRootVolumeTask {
  readonly taskId: string;
  /** pending | in-progress | succeeded | failing | failed | failed-detached */
  readonly state: string;
  readonly newVolumeId?: string | undefined;
}

export interface RootVolumeReplacer {
  readonly name: string;
  start(
    ec2: EC2Client,
    req: { instanceId: string; snapshotId: string; clientToken: string },
  ): Promise<ReplaceRootVolumeTask>;
  describe(ec2: EC2Client, taskId: string): Promise<ReplaceRootVolumeTask>;
}

const awsRootVolumeReplacer: RootVolumeReplacer = {
  name: 'ec2:CreateReplaceRootVolumeTask',
  async start(ec2, req) {
    const out = await awsCall('ec2:CreateReplaceRootVolumeTask', () =>
      ec2.send(
        new CreateReplaceRootVolumeTaskCommand({
          InstanceId: req.instanceId,
          SnapshotId: req.snapshotId,
          // Keep the replaced root: it is evidence.
          DeleteReplacedRootVolume: false,
          ClientToken: req.clientToken,
        }),
      ),
    );
    const t = out.ReplaceRootVolumeTask;
    return { taskId: t?.ReplaceRootVolumeTaskId ?? '', state: t?.TaskState ?? 'pending' };
  },
  async describe(ec2, taskId) {
    const out = await awsCall('ec2:DescribeReplaceRootVolumeTasks', () =>
      ec2.send(new DescribeReplaceRootVolumeTasksCommand({ ReplaceRootVolumeTaskIds: [taskId] })),
    );
    const t = out.ReplaceRootVolumeTasks?.[0];
    return { taskId, state: t?.TaskState ?? 'unknown' };
  },
};

const KEY = Symbol.for('aidops.standins.rootVolumeReplacer');

/** Local harness only: routes root volume replacement to a named stand-in. */
export function installRootVolumeReplacer(r: RootVolumeReplacer | undefined): void {
  (globalThis as Record<symbol, unknown>)[KEY] = r;
}

export function rootVolumeReplacer(): RootVolumeReplacer {
  return ((globalThis as Record<symbol, unknown>)[KEY] as RootVolumeReplacer | undefined) ?? awsRootVolumeReplacer;
}
