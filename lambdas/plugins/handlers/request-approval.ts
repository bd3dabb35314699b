/**
 * Step "Wait for approval" (lambda:invoke.waitForTaskToken): parks the task token
 * in the approvals table (the people's door answers it by the execution's name)
 * and tells the approvers' topic what waits. Env: APPROVAL_TOPIC_ARN,
 * APPROVAL_TABLE (optional: without it, only the notification).
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SNSClient } from '@aws-sdk/client-sns';
import { awsClientConfig } from '../../shared/clients.ts';
import { optionalEnv, requireEnv } from '../../shared/env.ts';
import { makeHandler } from '../../shared/middleware.ts';
import { PluginApprovals } from '../approvals.ts';
import { RequestApprovalInput, requestApproval } from '../workflow.ts';

const sns = new SNSClient(awsClientConfig());
const ddb = new DynamoDBClient(awsClientConfig());

export const handler = makeHandler({
  inputName: 'request-approval input',
  input: RequestApprovalInput,
  core: async (input) => {
    const table = optionalEnv('APPROVAL_TABLE');
    if (table) {
      const expiresAt = input.expiresAt ? new Date(input.expiresAt) : new Date(Date.now() + 7 * 86_400_000);
      await new PluginApprovals(ddb, table).put(
        input.executionArn.split(':').pop() ?? input.executionArn,
        {
          token: input.taskToken,
          requestedBy: input.request.requestedBy,
          pluginId: input.facts.pluginId,
          version: input.facts.version,
        },
        Number.isNaN(expiresAt.getTime()) ? new Date(Date.now() + 7 * 86_400_000) : expiresAt,
      );
    }
    return await requestApproval({ sns, topicArn: requireEnv('APPROVAL_TOPIC_ARN') }, input);
  },
});
