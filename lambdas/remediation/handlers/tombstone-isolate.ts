import { EC2Client } from '@aws-sdk/client-ec2';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { awsClientConfig } from '../../shared/clients.ts';
import { makeHandler } from '../../shared/middleware.ts';
import { IsolateInput, isolate } from '../tombstone.ts';
import { busName, isolationConfig } from './env.ts';

const ec2 = new EC2Client(awsClientConfig());
const eventBridge = new EventBridgeClient(awsClientConfig());

export const handler = makeHandler({
  inputName: 'isolate input',
  input: IsolateInput,
  core: (input) => isolate({ ec2, eventBridge, busName: busName(), config: isolationConfig() }, input),
});
