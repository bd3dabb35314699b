/**
 * Step "Wait for approval" (lambda:invoke.waitForTaskToken): tells the approvers' topic
 * what waits and how to answer. Env: APPROVAL_TOPIC_ARN.
 */
import { SNSClient } from '@aws-sdk/client-sns';
import { awsClientConfig } from '../../shared/clients.ts';
import { requireEnv } from '../../shared/env.ts';
import { makeHandler } from '../../shared/middleware.ts';
import { RequestApprovalInput, requestApproval } from '../workflow.ts';

const sns = new SNSClient(awsClientConfig());

export const handler = makeHandler({
  inputName: 'request-approval input',
  input: RequestApprovalInput,
  core: async (input) => requestApproval({ sns, topicArn: requireEnv('APPROVAL_TOPIC_ARN') }, input),
});
