/**
 * Where a remediation workflow's Catch goes: the failed step is written to the
 * audit trail and a person is paged (isolation failed, or any step after it).
 */
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import * as z from 'zod';
import { stepEvent } from '../audit/step-event.ts';
import { awsCall } from '../shared/aws-errors.ts';
import { consoleUrl, ExecutionArn, executionParts } from './addresses.ts';
import { audit, stepContext } from './audit.ts';

export const FailureInput = z.strictObject({
  executionId: ExecutionArn,
  /** The execution's input ($$.Execution.Input): sessionId and requestedBy come from it when present. */
  input: z.unknown(),
  /** The Catch's error output: {Error, Cause}. */
  failure: z.looseObject({ Error: z.string().optional(), Cause: z.string().optional() }),
  /** Page a person (isolation failed, or any tombstone step after it). @default true */
  page: z.boolean().default(true),
  /** A step that failed while the workflow goes on without it (the packet says so). @default the workflow failed */
  step: z.string().min(1).max(80).optional(),
});
export type FailureInput = z.output<typeof FailureInput>;

/** What the failure record can use of the execution input (which may be the very input that failed). */
const ExecutionInput = z.looseObject({
  // An id the audit trail accepts (its chain key), bounded as it requires.
  sessionId: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]*$/)
    .transform((s) => s.slice(0, 128))
    .optional()
    .catch(undefined),
  requestedBy: z.string().min(1).optional().catch(undefined),
});

export interface FailureDeps {
  readonly sns: SNSClient;
  readonly topicArn?: string;
  readonly eventBridge?: EventBridgeClient;
  readonly busName?: string;
}

/** The Lambda error's message when the cause is its JSON, else the cause as given. */
function causeText(cause: string): string {
  try {
    const parsed = JSON.parse(cause) as { errorMessage?: string };
    if (parsed.errorMessage) return parsed.errorMessage;
  } catch {
    // Cause is plain text already.
  }
  return cause;
}

/** Writes the failed step to the audit trail and pages the topic; returns what the Fail state reports. */
export async function recordFailure(
  deps: FailureDeps,
  input: FailureInput,
): Promise<{ error: string; cause: string; paged: boolean }> {
  const error = input.failure.Error ?? 'States.TaskFailed';
  const cause = causeText(input.failure.Cause ?? '');
  const execution = executionParts(input.executionId);
  const req = ExecutionInput.safeParse(input.input);
  const sessionId = (req.success ? req.data.sessionId : undefined) ?? null;
  const requestedBy = req.success ? req.data.requestedBy : undefined;
  const what = input.step
    ? `${input.step} failed; ${execution.stateMachine} goes on`
    : `${execution.stateMachine} failed`;
  await audit(deps.eventBridge, deps.busName, [
    stepEvent(
      stepContext({ executionId: input.executionId, sessionId, request: { requestedBy } }, execution.stateMachine),
      what,
      'failed',
      { error: `${error}: ${cause}` },
    ),
  ]);
  let paged = false;
  if (input.page && deps.topicArn) {
    await awsCall('sns:Publish', () =>
      deps.sns.send(
        new PublishCommand({
          TopicArn: deps.topicArn,
          Subject: (input.step
            ? `aidops: ${execution.stateMachine} step "${input.step}" FAILED for ${sessionId ?? 'a session'}`
            : `aidops: ${execution.stateMachine} FAILED for ${sessionId ?? 'a session'}`
          ).slice(0, 99),
          Message: `${error}: ${cause}\nExecution: ${consoleUrl.execution(execution, input.executionId)}\n${
            input.step
              ? `The workflow goes on (freeze, snapshots, evidence); the packet is marked incomplete. A person must finish "${input.step}" by hand.`
              : 'A person must finish containment by hand.'
          }`,
        }),
      ),
    );
    paged = true;
  }
  return { error, cause: cause.slice(0, 1000), paged };
}
