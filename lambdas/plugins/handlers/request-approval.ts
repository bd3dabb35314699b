/**
 * Step "Wait for approval" (lambda:invoke.waitForTaskToken): tells the approvers' topic
 * what waits and how to answer. Env: APPROVAL_TOPIC_ARN.
 */
import { SNSClient } from '@aws-sdk/client-sns';
import { awsClientConfig } from '../../shared/clients.ts';
import { ValidationError } from '../../shared/errors.ts';
import { makeHandler } from '../../shared/middleware.ts';
import { RequestApprovalInput, requestApproval } from '../workflow.ts';

const sns = new SNSClient(awsClientConfig());

function env(name: string): string {
  const v = process.env[name];
  if (!v) throw new ValidationError(`environment variable ${name} is not set`);
  return v;
}

export const handler = makeHandler({
  inputName: 'request-approval input',
  input: RequestApprovalInput,
  core: async (input) => requestApproval({ sns, topicArn: env('APPROVAL_TOPIC_ARN') }, input),
});
