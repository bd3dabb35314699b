import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SNSClient } from '@aws-sdk/client-sns';
import { SSMClient } from '@aws-sdk/client-ssm';
import { awsClientConfig } from '../../shared/clients.ts';
import { requireEnv } from '../../shared/env.ts';
import { makeHandler } from '../../shared/middleware.ts';
import { FailureInput, recordFailure } from '../failure.ts';
import { openTicket, TicketInput } from '../tombstone/ticket.ts';

const ssm = new SSMClient(awsClientConfig());
const sns = new SNSClient(awsClientConfig());
const eventBridge = new EventBridgeClient(awsClientConfig());
const deps = () => ({
  ssm,
  sns,
  eventBridge,
  busName: requireEnv('AUDIT_BUS_NAME'),
  topicArn: requireEnv('NOTIFY_TOPIC_ARN'),
});

export const handler = makeHandler({
  inputName: 'ticket input',
  input: TicketInput,
  core: (input) => openTicket(deps(), input),
});

/** Every remediation workflow's Catch: audit the failure and page a person. */
export const failure = makeHandler({
  inputName: 'failure input',
  input: FailureInput,
  core: (input) => recordFailure(deps(), input),
});
