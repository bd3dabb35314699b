/** The approver chose to end the session: the volumes stay (DeleteOnTermination is off), as do the snapshots. */
import { ModifyInstanceAttributeCommand, TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import * as z from 'zod';
import { newEvent } from '../../audit/schema.ts';
import { stepEvent } from '../../audit/step-event.ts';
import { awsCall } from '../../shared/aws-errors.ts';
import { audit, REMEDIATION_SOURCE, stepContext } from '../audit.ts';
import { RESTORE_MACHINE } from '../names.ts';
import { ApprovalDecision } from './approval.ts';
import { notify, type RestoreDeps } from './deps.ts';
import { RestorePlan } from './plan.ts';

export const TerminateInput = z.strictObject({ plan: RestorePlan, approval: ApprovalDecision });
export type TerminateInput = z.output<typeof TerminateInput>;

export async function terminate(deps: RestoreDeps, input: TerminateInput): Promise<{ terminated: true }> {
  const { plan, approval } = input;
  await awsCall('ec2:ModifyInstanceAttribute', () =>
    deps.ec2.send(
      new ModifyInstanceAttributeCommand({ InstanceId: plan.instanceId, DisableApiTermination: { Value: false } }),
    ),
  );
  await awsCall('ec2:TerminateInstances', () =>
    deps.ec2.send(new TerminateInstancesCommand({ InstanceIds: [plan.instanceId] })),
  );
  if (plan.sessionId) await deps.store?.releaseSession(plan.sessionId);
  await audit(deps.eventBridge, deps.busName, [
    stepEvent(
      stepContext(plan, RESTORE_MACHINE),
      `Terminate the instance (approved by ${approval.approver})`,
      'succeeded',
    ),
    newEvent('health', {
      source: REMEDIATION_SOURCE,
      sessionId: plan.sessionId,
      detail: { type: 'lifecycle', state: 'stopped', reason: 'terminated after incident' },
    }),
  ]);
  await notify(deps, `aidops: session ${plan.sessionId ?? plan.instanceId} terminated`, [
    `Approved by ${approval.approver}${approval.comment ? `: ${approval.comment}` : ''}. Volumes and snapshots are kept.`,
  ]);
  return { terminated: true };
}
