/**
 * Replace the root volume, one step per call (the machine polls): start the
 * instance if stopped (it is still quarantined), then start the replacement
 * task (idempotent by client token), then report the task's state.
 */
import { DescribeInstancesCommand, StartInstancesCommand } from '@aws-sdk/client-ec2';
import * as z from 'zod';
import { stepEvent } from '../../audit/step-event.ts';
import { awsCall } from '../../shared/aws-errors.ts';
import { ConfigurationError } from '../../shared/errors.ts';
import { executionParts } from '../addresses.ts';
import { audit, stepContext } from '../audit.ts';
import { RESTORE_MACHINE } from '../names.ts';
import { ApprovalDecision } from './approval.ts';
import type { RestoreDeps } from './deps.ts';
import { RestorePlan } from './plan.ts';

export const ReplaceProgress = z.strictObject({
  phase: z.enum(['starting-instance', 'replacing', 'done', 'failed']),
  taskId: z.string().nullable(),
  taskState: z.string().nullable(),
  replacer: z.string(),
  done: z.boolean(),
});
export type ReplaceProgress = z.output<typeof ReplaceProgress>;

export const ReplaceInput = z.strictObject({
  plan: RestorePlan,
  approval: ApprovalDecision,
  /** The previous call's result when polling; the machine starts with `{ phase: 'not-started' }`. */
  progress: z
    .union([z.strictObject({ phase: z.literal('not-started') }), ReplaceProgress])
    .nullable()
    .default(null),
});
export type ReplaceInput = z.output<typeof ReplaceInput>;

export async function advanceReplacement(deps: RestoreDeps, input: ReplaceInput): Promise<ReplaceProgress> {
  const { plan } = input;
  const replacer = deps.replacer;
  if (!replacer) throw new ConfigurationError('the restore replace step needs a root volume replacer');
  const prev = input.progress && 'taskId' in input.progress ? input.progress : null;
  if (prev?.taskId) {
    const t = await replacer.describe(deps.ec2, prev.taskId);
    const failed = t.state.startsWith('fail');
    return {
      phase: t.state === 'succeeded' ? 'done' : failed ? 'failed' : 'replacing',
      taskId: prev.taskId,
      taskState: t.state,
      replacer: replacer.name,
      done: t.state === 'succeeded' || failed,
    };
  }
  const cur = await awsCall('ec2:DescribeInstances', () =>
    deps.ec2.send(new DescribeInstancesCommand({ InstanceIds: [plan.instanceId] })),
  );
  const state = cur.Reservations?.[0]?.Instances?.[0]?.State?.Name ?? 'unknown';
  if (state === 'stopped') {
    // Replacing a root volume needs a running instance; it is still on the quarantine group.
    await awsCall('ec2:StartInstances', () =>
      deps.ec2.send(new StartInstancesCommand({ InstanceIds: [plan.instanceId] })),
    );
    return { phase: 'starting-instance', taskId: null, taskState: null, replacer: replacer.name, done: false };
  }
  if (state !== 'running')
    return { phase: 'starting-instance', taskId: null, taskState: state, replacer: replacer.name, done: false };
  const clientToken = executionParts(plan.executionId).name.slice(0, 64);
  const t = await replacer.start(deps.ec2, { instanceId: plan.instanceId, snapshotId: plan.snapshot.id, clientToken });
  await audit(deps.eventBridge, deps.busName, [
    stepEvent(
      stepContext(plan, RESTORE_MACHINE),
      `Replace the root volume from ${plan.snapshot.id} (${replacer.name})`,
      'started',
    ),
  ]);
  return {
    phase: t.state === 'succeeded' ? 'done' : 'replacing',
    taskId: t.taskId,
    taskState: t.state,
    replacer: replacer.name,
    done: t.state === 'succeeded',
  };
}
