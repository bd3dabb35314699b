/**
 * Lambda for the session workflow's attestation step (`.waitForTaskToken`).
 * Env: NONCE_TABLE (DynamoDB nonce table), SECRET_PREFIX (Secrets Manager name
 * prefix; a session's secret is `${SECRET_PREFIX}${sessionId}`), NONCE_TTL_SECONDS (optional).
 * AMD certificate cache (optional; SEV-SNP evidence without certificates needs it):
 * AMD_CERT_BUCKET, AMD_CERT_PREFIX (default 'amd/'), AMD_CERT_MAX_AGE_HOURS (default 72),
 * KDS_FETCH_ON_MISS ('true': ask AMD KDS for a VCEK missing from the cache), KDS_TIMEOUT_MS.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SFNClient } from '@aws-sdk/client-sfn';
import { awsClientConfig } from '../../shared/clients.ts';
import { makeHandler } from '../../shared/middleware.ts';
import { DEFAULT_CHAIN_MAX_AGE_MS, httpFetcher, S3AmdCertSource } from '../kds.ts';
import { DynamoNonceStore } from '../nonce-store.ts';
import { AttestationStepInputSchema, runAttestationStep, SfnTaskCallbacks } from '../step.ts';
import { ChainCache } from '../x509.ts';

const ddb = new DynamoDBClient(awsClientConfig());
const secrets = new SecretsManagerClient(awsClientConfig());
const sfn = new SFNClient(awsClientConfig());
// Module scope: warm invocations reuse verified intermediates.
const cache = new ChainCache();
const amdBucket = process.env.AMD_CERT_BUCKET;
const amdCerts = amdBucket
  ? new S3AmdCertSource({
      s3: new S3Client(awsClientConfig()),
      loc: { bucket: amdBucket, prefix: process.env.AMD_CERT_PREFIX ?? 'amd/' },
      maxAgeMs: process.env.AMD_CERT_MAX_AGE_HOURS
        ? Number(process.env.AMD_CERT_MAX_AGE_HOURS) * 3600_000
        : DEFAULT_CHAIN_MAX_AGE_MS,
      ...(process.env.KDS_FETCH_ON_MISS === 'true'
        ? { fetcher: httpFetcher({ timeoutMs: Number(process.env.KDS_TIMEOUT_MS ?? 5_000) }) }
        : {}),
    })
  : undefined;

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
      ...(amdCerts ? { amdCerts } : {}),
    }),
});
