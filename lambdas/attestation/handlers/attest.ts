/**
 * Lambda for the session workflow's attestation step (`.waitForTaskToken`).
 * Env: NONCE_TABLE (DynamoDB nonce table), SECRET_PREFIX (Secrets Manager name
 * prefix; a session's secret is `${SECRET_PREFIX}${sessionId}`), NONCE_TTL_SECONDS (optional).
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SFNClient } from '@aws-sdk/client-sfn';
import { awsClientConfig } from '../../shared/clients.ts';
import { makeHandler } from '../../shared/middleware.ts';
import { DynamoNonceStore } from '../nonce-store.ts';
import { AttestationStepInputSchema, runAttestationStep, SfnTaskCallbacks } from '../step.ts';
import { ChainCache } from '../x509.ts';

const ddb = new DynamoDBClient(awsClientConfig());
const secrets = new SecretsManagerClient(awsClientConfig());
const sfn = new SFNClient(awsClientConfig());
// Module scope: warm invocations reuse verified intermediates.
const cache = new ChainCache();

function env(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
}

export const handler = makeHandler({
  inputName: 'attestation step input',
  input: AttestationStepInputSchema,
  core: async (input) =>
    await runAttestationStep(input, {
      nonceStore: new DynamoNonceStore(ddb, {
        tableName: env('NONCE_TABLE'),
        ...(process.env.NONCE_TTL_SECONDS ? { ttlSeconds: Number(process.env.NONCE_TTL_SECONDS) } : {}),
      }),
      secrets,
      callbacks: new SfnTaskCallbacks(sfn),
      secretPrefix: env('SECRET_PREFIX'),
      cache,
    }),
});
