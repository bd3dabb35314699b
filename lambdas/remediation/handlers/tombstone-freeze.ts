import { EC2Client } from '@aws-sdk/client-ec2';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SSMClient } from '@aws-sdk/client-ssm';
import { awsClientConfig } from '../../shared/clients.ts';
import { requireEnv } from '../../shared/env.ts';
import { makeHandler } from '../../shared/middleware.ts';
import { checkFreeze, FreezeCheckInput, FreezeInput, freeze } from '../tombstone/freeze.ts';

const ec2 = new EC2Client(awsClientConfig());
const ssm = new SSMClient(awsClientConfig());
const ssmProbe = new SSMClient({ ...awsClientConfig(), maxAttempts: 1 });
const eventBridge = new EventBridgeClient(awsClientConfig());
const deps = () => ({ ec2, ssm, ssmProbe, eventBridge, busName: requireEnv('AUDIT_BUS_NAME') });

export const handler = makeHandler({
  inputName: 'freeze input',
  input: FreezeInput,
  core: (input) => freeze(deps(), input),
});

/** Same function, second entry: polled by the machine until the freeze holds. */
export const check = makeHandler({
  inputName: 'freeze check input',
  input: FreezeCheckInput,
  core: (input) => checkFreeze(deps(), input),
});
