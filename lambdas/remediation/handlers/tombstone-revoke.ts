import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EC2Client } from '@aws-sdk/client-ec2';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { IAMClient } from '@aws-sdk/client-iam';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { awsClientConfig } from '../../shared/clients.ts';
import { numberEnv, requireEnv } from '../../shared/env.ts';
import { makeHandler } from '../../shared/middleware.ts';
import { RevokeInput, revokeCredentials } from '../tombstone/revoke.ts';

const ec2 = new EC2Client(awsClientConfig());
const iam = new IAMClient(awsClientConfig());
const ddb = new DynamoDBClient(awsClientConfig());
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
        revocations: {
          ddb,
          table: requireEnv('INCIDENT_TABLE'),
          windowMs: numberEnv('REVOCATION_WINDOW_SECONDS', 43_200) * 1000,
        },
        eventBridge,
        busName: requireEnv('AUDIT_BUS_NAME'),
        secretRecoveryDays: numberEnv('SECRET_RECOVERY_DAYS', 30),
      },
      input,
    ),
});
