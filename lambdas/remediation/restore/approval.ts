/**
 * The restore's approval: the task token is parked in the incident table, with
 * who requested the restore, where the people's door (`aidops incident
 * approve|reject`, signed) finds it, and a person is asked over SNS. A rejection
 * or no answer in time keeps the session quarantined and changes nothing.
 */
import * as z from 'zod';
import { stepEvent } from '../../audit/step-event.ts';
import { consoleUrl, executionParts } from '../addresses.ts';
import { audit, stepContext } from '../audit.ts';
import { APPROVAL_REJECTED } from '../errors.ts';
import { RESTORE_MACHINE } from '../names.ts';
import { notify, type RestoreDeps } from './deps.ts';
import { RestorePlan } from './plan.ts';

/** What the people's door sends with SendTaskSuccess: `approver` is the caller's principal ARN. */
export const ApprovalDecision = z.strictObject({
  decision: z.enum(['release', 'terminate']),
  approver: z.string().trim().min(1).max(256),
  comment: z.string().max(1024).default(''),
});
export type ApprovalDecision = z.output<typeof ApprovalDecision>;

export const ApprovalRequestInput = z.strictObject({
  token: z.string().min(1),
  plan: RestorePlan,
});
export type ApprovalRequestInput = z.output<typeof ApprovalRequestInput>;

/** Parks the approval: the token goes to the incident table (for `aidops incident approve`) and to SNS. */
export async function requestApproval(deps: RestoreDeps, input: ApprovalRequestInput): Promise<{ requested: true }> {
  const { plan } = input;
  const now = (deps.now ?? (() => new Date()))();
  const summary = `restore ${plan.sessionId ?? plan.instanceId} (${plan.instanceId}) from ${plan.snapshot.id} taken ${plan.snapshot.startTime ?? '?'}`;
  await deps.store?.putApproval(plan.executionId, {
    token: input.token,
    sessionId: plan.sessionId,
    summary,
    requestedBy: plan.request.requestedBy,
    expiresAt: Math.floor(now.getTime() / 1000) + 7 * 86_400,
  });
  const execution = executionParts(plan.executionId);
  await notify(deps, `aidops: approve restore of ${plan.sessionId ?? plan.instanceId}?`, [
    `A restore waits for approval: ${summary}.`,
    `Evidence: ${plan.packet?.s3Uri ?? '-'}`,
    `Approve and release:   aidops incident approve ${execution.name}`,
    `Approve and terminate: aidops incident approve ${execution.name} --terminate`,
    `Reject (stay quarantined): aidops incident reject ${execution.name}`,
    `Console: ${consoleUrl.execution(execution, plan.executionId)}`,
  ]);
  await audit(deps.eventBridge, deps.busName, [
    stepEvent(stepContext(plan, RESTORE_MACHINE), 'Wait for approval', 'started'),
  ]);
  return { requested: true };
}

export const KeepInput = z.strictObject({
  plan: RestorePlan,
  /** The Catch's error output: {Error, Cause}. */
  rejection: z.looseObject({ Error: z.string().optional(), Cause: z.string().optional() }),
});
export type KeepInput = z.output<typeof KeepInput>;

/** Rejected (or no answer in time): nothing changes, the session stays quarantined. */
export async function keepQuarantined(
  deps: RestoreDeps,
  input: KeepInput,
): Promise<{ outcome: 'rejected' | 'timed-out'; reason: string }> {
  const { plan } = input;
  const outcome = input.rejection.Error === APPROVAL_REJECTED ? 'rejected' : 'timed-out';
  const reason = (input.rejection.Cause ?? '').slice(0, 512);
  await audit(deps.eventBridge, deps.busName, [
    stepEvent(stepContext(plan, RESTORE_MACHINE), `Restore ${outcome}: keep the session quarantined`, 'succeeded'),
  ]);
  await notify(deps, `aidops: restore of ${plan.sessionId ?? plan.instanceId} ${outcome}`, [
    `The session stays quarantined. ${reason}`,
  ]);
  return { outcome, reason };
}
