/** SQS queues and SNS topics. */
import { CreateTopicCommand } from '@aws-sdk/client-sns';
import { CreateQueueCommand, GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import type { ProvisionerTable } from './types.ts';

export const messaging: ProvisionerTable = {
  async 'AWS::SQS::Queue'({ c, id, type, p }) {
    const name = String(p.QueueName ?? id);
    const attributes: Record<string, string> = {};
    if (p.RedrivePolicy) attributes.RedrivePolicy = JSON.stringify(p.RedrivePolicy);
    if (p.VisibilityTimeout !== undefined) attributes.VisibilityTimeout = String(p.VisibilityTimeout);
    if (p.FifoQueue) attributes.FifoQueue = 'true';
    const q = await c.sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }));
    const a = await c.sqs.send(new GetQueueAttributesCommand({ QueueUrl: q.QueueUrl!, AttributeNames: ['QueueArn'] }));
    return { type, ref: q.QueueUrl!, attrs: { Arn: a.Attributes!.QueueArn!, QueueName: name, QueueUrl: q.QueueUrl! } };
  },
  async 'AWS::SNS::Topic'({ c, id, type, p }) {
    const t = await c.sns.send(new CreateTopicCommand({ Name: String(p.TopicName ?? id) }));
    return { type, ref: t.TopicArn!, attrs: { TopicArn: t.TopicArn!, TopicName: String(p.TopicName ?? id) } };
  },
};
