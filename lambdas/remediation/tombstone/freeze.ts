/**
 * Freeze: where SSM reports the agent online, stop the agent in the guest (the
 * instance keeps running for live response); otherwise stop the instance,
 * hibernating it where it was launched with hibernation. `checkFreeze` is polled
 * by the machine until the freeze holds, falling back to a stop when the SSM
 * command did not work.
 */
import { DescribeInstancesCommand, type EC2Client, StopInstancesCommand } from '@aws-sdk/client-ec2';
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import {
  DescribeInstanceInformationCommand,
  GetCommandInvocationCommand,
  SendCommandCommand,
  type SSMClient,
} from '@aws-sdk/client-ssm';
import * as z from 'zod';
import { stepEvent } from '../../audit/step-event.ts';
import { awsCall } from '../../shared/aws-errors.ts';
import { IsoTime } from '../../shared/ids.ts';
import { audit, stepContext } from '../audit.ts';
import { Changes, PlannedChange } from './changes.ts';
import { StepFields, Target } from './target.ts';

export const FreezeInput = z.strictObject(StepFields);
export type FreezeInput = z.output<typeof FreezeInput>;

const FreezeMode = z.enum(['ssm-stop-agent', 'stop', 'hibernate', 'none', 'already-stopped']);
type FreezeMode = z.output<typeof FreezeMode>;

export const FreezeResult = z.strictObject({
  dryRun: z.boolean(),
  mode: FreezeMode,
  commandId: z.string().nullable(),
  ssmReachable: z.boolean(),
  requestedAt: IsoTime,
  planned: z.array(PlannedChange),
});
export type FreezeResult = z.output<typeof FreezeResult>;

export interface FreezeDeps {
  readonly ec2: EC2Client;
  readonly ssm: SSMClient;
  /** Client for the reachability probe, without SDK retries (an unanswered probe means unreachable). @default ssm */
  readonly ssmProbe?: SSMClient;
  readonly eventBridge?: EventBridgeClient;
  readonly busName?: string;
  /** Shell commands that stop the agent in the guest. */
  readonly stopAgentCommands?: readonly string[];
}

const DEFAULT_STOP_AGENT_COMMANDS = [
  'systemctl stop aidops-agent.service || true',
  'pkill -STOP -f aidops-agent || true',
] as const;

/** True when SSM reports the instance's agent online (an API without an answer counts as unreachable). */
async function ssmReachable(ssm: SSMClient, instanceId: string): Promise<boolean> {
  try {
    const out = await ssm.send(
      new DescribeInstanceInformationCommand({ Filters: [{ Key: 'InstanceIds', Values: [instanceId] }] }),
    );
    return (out.InstanceInformationList ?? []).some((i) => i.InstanceId === instanceId && i.PingStatus === 'Online');
  } catch {
    return false;
  }
}

async function stopInstance(ec2: EC2Client, instanceId: string, hibernate: boolean): Promise<void> {
  await awsCall('ec2:StopInstances', async () => {
    try {
      return await ec2.send(new StopInstancesCommand({ InstanceIds: [instanceId], Hibernate: hibernate || undefined }));
    } catch (e) {
      // Hibernation not possible right now (agent not ready, memory too large): a plain stop still freezes.
      if (hibernate && /hibernat/i.test((e as Error).message))
        return await ec2.send(new StopInstancesCommand({ InstanceIds: [instanceId] }));
      throw e;
    }
  });
}

async function instanceState(ec2: EC2Client, instanceId: string): Promise<string | undefined> {
  const cur = await awsCall('ec2:DescribeInstances', () =>
    ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] })),
  );
  return cur.Reservations?.[0]?.Instances?.[0]?.State?.Name;
}

export async function freeze(deps: FreezeDeps, input: FreezeInput): Promise<FreezeResult> {
  const t = input.target;
  const requestedAt = new Date();
  const changes = new Changes(t.request.dryRun);
  const state = (await instanceState(deps.ec2, t.instanceId)) ?? t.state;
  let mode: FreezeMode;
  let commandId: string | null = null;
  let reachable = false;
  if (t.request.freeze === 'none') mode = 'none';
  else if (state === 'stopped' || state === 'stopping') mode = 'already-stopped';
  else {
    reachable = t.request.freeze === 'auto' && (await ssmReachable(deps.ssmProbe ?? deps.ssm, t.instanceId));
    const hibernate = t.request.allowHibernate && t.hibernationConfigured;
    if (reachable) {
      mode = 'ssm-stop-agent';
      const sent = await changes.applyOrPlan(
        { action: 'ssm:SendCommand', resource: t.instanceId, detail: 'AWS-RunShellScript: stop the agent' },
        () =>
          awsCall('ssm:SendCommand', () =>
            deps.ssm.send(
              new SendCommandCommand({
                InstanceIds: [t.instanceId],
                DocumentName: 'AWS-RunShellScript',
                Comment: `aidops tombstone ${t.incidentId}`.slice(0, 100),
                Parameters: { commands: [...(deps.stopAgentCommands ?? DEFAULT_STOP_AGENT_COMMANDS)] },
                TimeoutSeconds: 60,
              }),
            ),
          ),
      );
      commandId = sent?.Command?.CommandId ?? null;
    } else {
      mode = hibernate ? 'hibernate' : 'stop';
      await changes.applyOrPlan(
        { action: 'ec2:StopInstances', resource: t.instanceId, detail: hibernate ? 'Hibernate' : 'Stop' },
        () => stopInstance(deps.ec2, t.instanceId, hibernate),
      );
    }
  }
  await audit(deps.eventBridge, deps.busName, [
    stepEvent(
      stepContext(t, input.stateMachine),
      `Freeze the instance: ${mode}${changes.dryRun ? ' (dry run)' : ''}`,
      'succeeded',
    ),
  ]);
  return {
    dryRun: changes.dryRun,
    mode,
    commandId,
    ssmReachable: reachable,
    requestedAt: requestedAt.toISOString(),
    planned: changes.planned,
  };
}

export const FreezeCheckInput = z.strictObject({ target: Target, freeze: FreezeResult });
export type FreezeCheckInput = z.output<typeof FreezeCheckInput>;

export interface FreezeCheck {
  readonly done: boolean;
  readonly state: string;
  /** The agent could not be stopped through SSM; the instance was stopped instead. */
  readonly fellBackToStop: boolean;
}

/** Polled by the machine until the freeze holds (instance stopped, or the SSM command finished). */
export async function checkFreeze(deps: FreezeDeps, input: FreezeCheckInput): Promise<FreezeCheck> {
  const { target: t, freeze: f } = input;
  if (f.dryRun || f.mode === 'none') return { done: true, state: t.state, fellBackToStop: false };
  if (f.mode === 'ssm-stop-agent' && f.commandId) {
    try {
      const inv = await deps.ssm.send(
        new GetCommandInvocationCommand({ CommandId: f.commandId, InstanceId: t.instanceId }),
      );
      if (inv.Status === 'Success') return { done: true, state: 'agent-stopped', fellBackToStop: false };
      if (['Pending', 'InProgress', 'Delayed'].includes(inv.Status ?? ''))
        return { done: false, state: inv.Status ?? 'Pending', fellBackToStop: false };
    } catch {
      // No invocation record: treat like a failed command.
    }
  }
  let state = (await instanceState(deps.ec2, t.instanceId)) ?? 'unknown';
  const fellBackToStop = f.mode === 'ssm-stop-agent';
  // The agent could not be stopped in the guest: stop the instance (idempotent on a stopping one).
  if (fellBackToStop && (state === 'running' || state === 'pending')) {
    await stopInstance(deps.ec2, t.instanceId, false);
    state = 'stopping';
  }
  return { done: state === 'stopped' || state === 'terminated', state, fellBackToStop };
}
