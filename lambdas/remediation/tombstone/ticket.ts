/**
 * The incident ticket: an SSM OpsItem linking the packet, the snapshots and the
 * instance, and the SNS notification. OpsItems have no client token, so the
 * ticket is found by its title (which carries the incident id) before one is
 * created: a retried step opens no second ticket.
 */
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import { CreateOpsItemCommand, DescribeOpsItemsCommand, type SSMClient } from '@aws-sdk/client-ssm';
import * as z from 'zod';
import { stepEvent } from '../../audit/step-event.ts';
import { awsCall } from '../../shared/aws-errors.ts';
import { arnOf, consoleUrl, executionParts } from '../addresses.ts';
import { audit, stepContext } from '../audit.ts';
import { EvidenceResult, TakenSnapshots } from './evidence.ts';
import { IsolationResult } from './isolate.ts';
import { StepFields, type Target } from './target.ts';

export const TicketInput = z.strictObject({
  ...StepFields,
  isolation: IsolationResult,
  evidence: EvidenceResult,
  snapshots: TakenSnapshots,
});
export type TicketInput = z.output<typeof TicketInput>;

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

function ticketTitle(t: Pick<Target, 'incidentId' | 'sessionId' | 'instanceId'>): string {
  return `aidops tombstone ${t.incidentId}: ${t.sessionId ?? t.instanceId}`.slice(0, 1024);
}

export async function openTicket(deps: TicketDeps, input: TicketInput): Promise<TicketResult> {
  const { target: t, isolation: iso, evidence: ev } = input;
  const snapshotIds = input.snapshots?.snapshotIds ?? [];
  const where = executionParts(t.executionId);
  const title = ticketTitle(t);
  const ctx = stepContext(t, input.stateMachine);
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
      { arn: arnOf.instance(where, t.instanceId) },
      ...snapshotIds.map((s) => ({ arn: arnOf.snapshot(where, s) })),
      { arn: arnOf.s3Object(where, ev.bucket, ev.key) },
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
  const opsItemUrl = opsItemId ? consoleUrl.opsItem(where, opsItemId) : null;
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
            `Execution: ${consoleUrl.execution(where, t.executionId)}`,
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
