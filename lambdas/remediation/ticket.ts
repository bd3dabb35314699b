/**
 * The incident ticket (an SSM OpsItem linking the packet, the snapshots and the
 * instance) and the SNS notification; plus the failure recorder every workflow's
 * Catch goes to. OpsItems have no client token, so the ticket is found by its
 * title (which carries the incident id) before one is created: a retried step
 * opens no second ticket.
 */
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import { CreateOpsItemCommand, DescribeOpsItemsCommand, type SSMClient } from '@aws-sdk/client-ssm';
import * as z from 'zod';
import { awsCall } from '../shared/aws-errors.ts';
import { audit, consoleUrl, machineOfExecution, regionOf, type StepContext, stepEvent } from './common.ts';
import type { EvidenceResult } from './evidence.ts';
import type { IsolationResult, Target } from './tombstone.ts';
import { TOMBSTONE_MACHINE } from './tombstone.ts';

export const TicketInput = z.strictObject({
  target: z.looseObject({}),
  isolation: z.looseObject({}),
  evidence: z.looseObject({}),
  snapshots: z.looseObject({ snapshotIds: z.array(z.string()) }).nullable(),
  stateMachine: z.string().default(TOMBSTONE_MACHINE),
});

export interface TicketDeps {
  readonly ssm: SSMClient;
  readonly sns: SNSClient;
  readonly topicArn?: string;
  readonly eventBridge?: EventBridgeClient;
  readonly busName?: string;
}

export interface TicketResult {
  readonly dryRun: boolean;
  readonly opsItemId: string | null;
  readonly opsItemUrl: string | null;
  readonly notified: boolean;
  readonly reused: boolean;
}

export function ticketTitle(t: Pick<Target, 'incidentId' | 'sessionId' | 'instanceId'>): string {
  return `aidops tombstone ${t.incidentId}: ${t.sessionId ?? t.instanceId}`.slice(0, 1024);
}

export async function openTicket(deps: TicketDeps, input: z.output<typeof TicketInput>): Promise<TicketResult> {
  const t = input.target as unknown as Target;
  const iso = input.isolation as unknown as IsolationResult;
  const ev = input.evidence as unknown as EvidenceResult;
  const snapshotIds = input.snapshots?.snapshotIds ?? [];
  const region = regionOf();
  const account = t.executionId.split(':')[4] ?? '';
  const title = ticketTitle(t);
  const ctx: StepContext = {
    executionId: t.executionId,
    stateMachine: input.stateMachine,
    sessionId: t.sessionId,
    requestedBy: t.request.requestedBy,
  };
  if (t.request.dryRun) {
    await audit(deps.eventBridge, deps.busName, [stepEvent(ctx, 'Open the incident ticket (dry run)', 'succeeded')]);
    return { dryRun: true, opsItemId: null, opsItemUrl: null, notified: false, reused: false };
  }
  const found = await awsCall('ssm:DescribeOpsItems', () =>
    deps.ssm.send(
      new DescribeOpsItemsCommand({ OpsItemFilters: [{ Key: 'Title', Operator: 'Equal', Values: [title] }] }),
    ),
  );
  let opsItemId = found.OpsItemSummaries?.find((s) => s.Title === title)?.OpsItemId ?? null;
  const reused = opsItemId !== null;
  if (!opsItemId) {
    const resources = [
      { arn: `arn:aws:ec2:${region}:${account}:instance/${t.instanceId}` },
      ...snapshotIds.map((s) => ({ arn: `arn:aws:ec2:${region}::snapshot/${s}` })),
      { arn: `arn:aws:s3:::${ev.bucket}/${ev.key}` },
    ];
    const made = await awsCall('ssm:CreateOpsItem', () =>
      deps.ssm.send(
        new CreateOpsItemCommand({
          Title: title,
          Source: 'aidops',
          Category: 'Security',
          Severity: '1',
          Priority: 1,
          Description: [
            `Session ${t.sessionId ?? '-'} (instance ${t.instanceId}) was tombstoned: ${t.request.reason}`,
            `Trigger: ${t.request.source}; requested by ${t.request.requestedBy}.`,
            `Quarantined at ${iso.quarantineAppliedAt ?? '-'}.`,
            `Evidence packet (legal hold): ${ev.s3Uri} version ${ev.versionId ?? '-'} sha256 ${ev.sha256}`,
            `Snapshots: ${snapshotIds.join(', ') || '-'}`,
            `Execution: ${t.executionId}`,
          ]
            .join('\n')
            .slice(0, 2048),
          OperationalData: {
            '/aws/resources': { Type: 'SearchableString', Value: JSON.stringify(resources) },
            'aidops:incident-id': { Type: 'SearchableString', Value: t.incidentId },
            'aidops:session-id': { Type: 'SearchableString', Value: t.sessionId ?? '' },
            'aidops:evidence-packet': { Type: 'String', Value: `${ev.s3Uri}?versionId=${ev.versionId ?? ''}` },
            'aidops:snapshots': { Type: 'String', Value: JSON.stringify(snapshotIds) },
            'aidops:execution': { Type: 'String', Value: t.executionId },
          },
          Tags: [{ Key: 'aidops:incident-id', Value: t.incidentId }],
        }),
      ),
    );
    opsItemId = made.OpsItemId ?? null;
  }
  const opsItemUrl = opsItemId ? consoleUrl.opsItem(region, opsItemId) : null;
  let notified = false;
  if (deps.topicArn && !reused) {
    await awsCall('sns:Publish', () =>
      deps.sns.send(
        new PublishCommand({
          TopicArn: deps.topicArn,
          Subject: `aidops: session ${t.sessionId ?? t.instanceId} tombstoned`.slice(0, 99),
          Message: [
            `Session ${t.sessionId ?? '-'} / instance ${t.instanceId} is quarantined (${iso.quarantineAppliedAt}).`,
            `Reason: ${t.request.reason}`,
            `OpsItem: ${opsItemId} ${opsItemUrl ?? ''}`,
            `Evidence: ${ev.s3Uri} (legal hold) ${ev.url}`,
            `Snapshots: ${snapshotIds.join(', ') || '-'}`,
            `Execution: ${consoleUrl.execution(region, t.executionId)}`,
            `Restore: aidops incident restore --session ${t.sessionId ?? '<session>'}`,
          ].join('\n'),
        }),
      ),
    );
    notified = true;
  }
  await audit(deps.eventBridge, deps.busName, [stepEvent(ctx, 'Open the incident ticket and notify', 'succeeded')]);
  return { dryRun: false, opsItemId, opsItemUrl, notified, reused };
}

// ---------------------------------------------------------------------------

export const FailureInput = z.strictObject({
  executionId: z.string().min(1),
  /** The execution's input ($$.Execution.Input): sessionId and requestedBy come from it when present. */
  input: z.unknown(),
  /** The Catch's error output: {Error, Cause}. */
  failure: z.looseObject({ Error: z.string().optional(), Cause: z.string().optional() }),
  /** Page a person (isolation failed, or any tombstone step after it). @default true */
  page: z.boolean().default(true),
});

/** Writes the failed step to the audit trail and pages the topic; returns what the Fail state reports. */
export async function recordFailure(
  deps: TicketDeps,
  input: z.output<typeof FailureInput>,
): Promise<{ error: string; cause: string; paged: boolean }> {
  const error = input.failure.Error ?? 'States.TaskFailed';
  let cause = input.failure.Cause ?? '';
  try {
    const parsed = JSON.parse(cause) as { errorMessage?: string };
    if (parsed.errorMessage) cause = parsed.errorMessage;
  } catch {
    // Cause is plain text already.
  }
  const machine = machineOfExecution(input.executionId);
  const req = (input.input ?? {}) as { sessionId?: unknown; requestedBy?: unknown };
  const sessionId = typeof req.sessionId === 'string' ? req.sessionId : null;
  const ctx: StepContext = {
    executionId: input.executionId,
    stateMachine: machine,
    sessionId: sessionId && /^[A-Za-z0-9][A-Za-z0-9._:-]*$/.test(sessionId) ? sessionId.slice(0, 128) : null,
    requestedBy: typeof req.requestedBy === 'string' && req.requestedBy ? req.requestedBy : undefined,
  };
  await audit(deps.eventBridge, deps.busName, [
    stepEvent(ctx, `${machine} failed`, 'failed', { error: `${error}: ${cause}` }),
  ]);
  let paged = false;
  if (input.page && deps.topicArn) {
    await awsCall('sns:Publish', () =>
      deps.sns.send(
        new PublishCommand({
          TopicArn: deps.topicArn,
          Subject: `aidops: ${machine} FAILED for ${ctx.sessionId ?? 'a session'}`.slice(0, 99),
          Message: `${error}: ${cause}\nExecution: ${consoleUrl.execution(regionOf(), input.executionId)}\nA person must finish containment by hand.`,
        }),
      ),
    );
    paged = true;
  }
  return { error, cause: cause.slice(0, 1000), paged };
}
