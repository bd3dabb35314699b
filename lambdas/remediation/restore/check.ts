/** After the replacement: the instance runs on a new root volume, still isolated (release comes next). */
import { DescribeInstancesCommand } from '@aws-sdk/client-ec2';
import * as z from 'zod';
import { stepEvent } from '../../audit/step-event.ts';
import { awsCall } from '../../shared/aws-errors.ts';
import { audit, stepContext } from '../audit.ts';
import { RESTORE_MACHINE } from '../names.ts';
import type { RestoreDeps } from './deps.ts';
import { RestorePlan, rootOf } from './plan.ts';

export const CheckInstanceInput = z.strictObject({ plan: RestorePlan });
export type CheckInstanceInput = z.output<typeof CheckInstanceInput>;

export const InstanceCheck = z.strictObject({
  healthy: z.boolean(),
  state: z.string(),
  rootVolumeId: z.string().nullable(),
  rootReplaced: z.boolean(),
  onlyQuarantine: z.boolean(),
});
export type InstanceCheck = z.output<typeof InstanceCheck>;

export async function checkInstance(
  deps: RestoreDeps & { quarantineGroupId: string },
  input: CheckInstanceInput,
): Promise<InstanceCheck> {
  const { plan } = input;
  const cur = await awsCall('ec2:DescribeInstances', () =>
    deps.ec2.send(new DescribeInstancesCommand({ InstanceIds: [plan.instanceId] })),
  );
  const i = cur.Reservations?.[0]?.Instances?.[0];
  const state = i?.State?.Name ?? 'unknown';
  const rootVolumeId = i ? rootOf(i).volumeId : null;
  const onlyQuarantine = (i?.NetworkInterfaces ?? []).every(
    (n) => (n.Groups ?? []).length === 1 && n.Groups?.[0]?.GroupId === deps.quarantineGroupId,
  );
  const rootReplaced = !!rootVolumeId && rootVolumeId !== plan.rootVolumeId;
  const healthy = state === 'running' && rootReplaced;
  await audit(deps.eventBridge, deps.busName, [
    stepEvent(
      stepContext(plan, RESTORE_MACHINE),
      `Check the instance: ${state}, root ${rootVolumeId ?? '-'}`,
      healthy ? 'succeeded' : 'failed',
    ),
  ]);
  return { healthy, state, rootVolumeId, rootReplaced, onlyQuarantine };
}
