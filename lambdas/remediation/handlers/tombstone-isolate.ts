import { EC2Client } from '@aws-sdk/client-ec2';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { awsClientConfig } from '../../shared/clients.ts';
import { requireEnv } from '../../shared/env.ts';
import { makeHandler, metric } from '../../shared/middleware.ts';
import { IsolateInput, isolate } from '../tombstone/isolate.ts';

const ec2 = new EC2Client(awsClientConfig());
const eventBridge = new EventBridgeClient(awsClientConfig());

export const handler = makeHandler({
  inputName: 'isolate input',
  input: IsolateInput,
  core: (input) =>
    isolate(
      {
        ec2,
        eventBridge,
        busName: requireEnv('AUDIT_BUS_NAME'),
        metric,
        config: {
          quarantineGroupId: requireEnv('QUARANTINE_GROUP_ID'),
          transitionGroupId: requireEnv('TRANSITION_GROUP_ID'),
        },
      },
      input,
    ),
});
