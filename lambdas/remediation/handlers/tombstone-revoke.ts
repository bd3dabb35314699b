import { EC2Client } from '@aws-sdk/client-ec2';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { IAMClient } from '@aws-sdk/client-iam';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { awsClientConfig } from '../../shared/clients.ts';
import { makeHandler } from '../../shared/middleware.ts';
import { RevokeInput, revokeCredentials } from '../tombstone.ts';
import { busName } from './env.ts';

const ec2 = new EC2Client(awsClientConfig());
const iam = new IAMClient(awsClientConfig());
const secrets = new SecretsManagerClient(awsClientConfig());
const eventBridge = new EventBridgeClient(awsClientConfig());

export const handler = makeHandler({
  inputName: 'revoke input',
  input: RevokeInput,
  core: (input) =>
    revokeCredentials(
      {
        ec2,
        iam,
        secrets,
        eventBridge,
        busName: busName(),
        secretRecoveryDays: Number(process.env.SECRET_RECOVERY_DAYS ?? '30'),
      },
      input,
    ),
});
