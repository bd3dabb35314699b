import { EC2Client } from '@aws-sdk/client-ec2';
import { awsClientConfig } from '../../shared/clients.ts';
import { requireEnv } from '../../shared/env.ts';
import { makeHandler } from '../../shared/middleware.ts';
import { ValidateInput, validateTombstone } from '../tombstone/validate.ts';

const ec2 = new EC2Client(awsClientConfig());

export const handler = makeHandler({
  inputName: 'tombstone workflow input',
  input: ValidateInput,
  core: (input) =>
    validateTombstone(ec2, input, {
      quarantineGroupId: requireEnv('QUARANTINE_GROUP_ID'),
      transitionGroupId: requireEnv('TRANSITION_GROUP_ID'),
    }),
});
