/**
 * The two steps of the admission workflow that are not verification or registry:
 *
 *   publishDecision  puts a `decision` audit event on the audit bus — the one a step
 *                    returned, or a refusal the workflow itself decided (approval denied
 *                    or lapsed, registry conflict), which needs a UUIDv7 the ASL cannot make.
 *   requestApproval  tells a person (SNS) what is waiting and the people's door routes to answer
 *                    (the token is parked for the door, never mailed); the workflow parks on `.waitForTaskToken`.
 */
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import * as z from 'zod';
import { parseAuditEvent, publishAuditEvents } from '../audit/schema.ts';
import { awsCall } from '../shared/aws-errors.ts';
import { ValidationError } from '../shared/errors.ts';
import { parseOrThrow } from '../shared/validation.ts';
import { AdmissionFacts, type DecisionEvent, decisionEvent } from './admission.ts';
import { PluginId, PluginVersion } from './registry.ts';

/** Error name an approver sends with SendTaskFailure to deny an admission. */
export const APPROVAL_DENIED_ERROR = 'ApprovalDenied';

/** Reason codes the workflow itself decides (the verifier's are in errors.ts). */
export const WorkflowReasons = [
  'APPROVAL_DENIED',
  'APPROVAL_TIMEOUT',
  'APPROVAL_INVALID',
  'REGISTRY_CONFLICT',
] as const;
export type WorkflowReason = (typeof WorkflowReasons)[number];

const Refusal = z.strictObject({
  pluginId: PluginId,
  version: PluginVersion,
  /** An upper-snake reason code: the verifier's or one of WorkflowReasons. */
  reason: z.string().regex(/^[A-Z][A-Z0-9_]{1,63}$/),
  /** Free text (e.g. the approver's SendTaskFailure cause); clipped, never trusted as structure. */
  message: z.string().max(16_384).default(''),
  by: z.string().min(1).max(256),
});

export const PublishDecisionInput = z.union([
  z.strictObject({ decision: z.record(z.string(), z.unknown()) }),
  z.strictObject({ refusal: Refusal }),
]);
export type PublishDecisionInput = z.input<typeof PublishDecisionInput>;

export interface PublishDeps {
  readonly eventBridge: EventBridgeClient;
  readonly busName: string;
  readonly policyVersion?: string | null;
  readonly now?: () => Date;
}

export async function publishDecision(
  deps: PublishDeps,
  raw: PublishDecisionInput,
): Promise<{ eventId: string; action: string; outcome: 'allow' | 'deny'; reasons: string[] }> {
  const input = parseOrThrow(PublishDecisionInput, raw, 'publish-decision input');
  let event: DecisionEvent;
  if ('decision' in input) {
    const parsed = parseAuditEvent(input.decision);
    if (parsed.kind !== 'decision') throw new ValidationError(`expected a decision event, got ${parsed.kind}`);
    event = parsed;
  } else {
    const r = input.refusal;
    event = decisionEvent({
      action: 'plugin_admit',
      resource: `plugin:${r.pluginId}@${r.version}`,
      outcome: 'deny',
      reasons: r.message ? [r.reason, r.message] : [r.reason],
      input: r,
      by: r.by,
      time: deps.now?.() ?? new Date(),
      policyVersion: deps.policyVersion,
    });
  }
  // Retried by the workflow on TransientError; the audit writer dedupes by eventId.
  await publishAuditEvents(deps.eventBridge, deps.busName, [event]);
  return {
    eventId: event.eventId,
    action: event.detail.action ?? '',
    outcome: event.detail.outcome,
    reasons: event.detail.reasons,
  };
}

export const RequestApprovalInput = z.strictObject({
  taskToken: z.string().min(1).max(8192),
  executionArn: z.string().min(1),
  request: z.strictObject({
    pluginId: PluginId,
    version: PluginVersion,
    bucket: z.string(),
    key: z.string(),
    bundleKey: z.string(),
    requestedBy: z.string(),
  }),
  facts: AdmissionFacts,
  message: z.string().max(4096).default(''),
  /** ISO time after which the request lapses (shown to the approver). */
  expiresAt: z.string().optional(),
});
export type RequestApprovalInput = z.input<typeof RequestApprovalInput>;

const str = (v: unknown): string => (typeof v === 'string' && v ? v : '-');

/** The notification text: who signed what, from where, and the door's routes to answer it. */
export function approvalMessage(raw: RequestApprovalInput): { subject: string; message: string } {
  const i = parseOrThrow(RequestApprovalInput, raw, 'request-approval input');
  const f = i.facts;
  const p = f.provenance ?? {};
  const s = f.signer;
  const admission = i.executionArn.split(':').pop() ?? i.executionArn;
  const lines = [
    `Plugin ${f.pluginId}@${f.version} was verified and waits for your approval.`,
    `Reason: ${i.message || 'the trust policy requires a person for this publisher'}`,
    '',
    `  requested by   ${i.request.requestedBy}`,
    `  artifact       s3://${i.request.bucket}/${i.request.key}`,
    `  digest         ${f.digest}`,
    `  publisher      ${f.publisher} (first admission)`,
    `  signer         ${str(s.subjectAlternativeName ?? s.keyId)}`,
    `  issuer         ${str(s.issuer)}`,
    `  signed at      ${f.signedAt}`,
    `  provenance     ${str(p.predicateType)}`,
    `  builder        ${str(p.builderId)} (SLSA build level ${f.slsaBuildLevel} by this deployment's policy)`,
    `  source         ${str(p.sourceRepository)} @ ${str(p.sourceRef)} (${str(p.sourceCommit)})`,
    `  execution      ${i.executionArn}`,
    ...(i.expiresAt ? [`  lapses at      ${i.expiresAt}`] : []),
    '',
    `Answer through the people's door, signed with the approver role (the approver is your principal ARN):`,
    `  approve:  POST /v1/approvals/plugin/${admission}/approve`,
    `  reject:   POST /v1/approvals/plugin/${admission}/reject   {"comment": "why"}`,
    '(The task token is not in this message: only the door answers it.)',
  ];
  return { subject: `aidops: approve plugin ${f.pluginId}@${f.version}?`.slice(0, 99), message: lines.join('\n') };
}

export async function requestApproval(
  deps: { readonly sns: SNSClient; readonly topicArn: string },
  raw: RequestApprovalInput,
): Promise<{ messageId: string }> {
  const { subject, message } = approvalMessage(raw);
  const out = await awsCall('sns:Publish', () =>
    deps.sns.send(new PublishCommand({ TopicArn: deps.topicArn, Subject: subject, Message: message })),
  );
  return { messageId: out.MessageId ?? '' };
}
