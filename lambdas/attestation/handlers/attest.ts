/**
 * Lambda for the session workflow's attestation step (`.waitForTaskToken`).
 * Env: NONCE_TABLE (DynamoDB nonce table), SECRET_PREFIX (Secrets Manager name
 * prefix; a session's secret is `${SECRET_PREFIX}${sessionId}`), NONCE_TTL_SECONDS (optional).
 * AMD certificate cache (optional; SEV-SNP evidence without certificates needs it):
 * AMD_CERT_BUCKET, AMD_CERT_PREFIX (default 'amd/'), AMD_CERT_MAX_AGE_HOURS (default 72),
 * KDS_FETCH_ON_MISS ('true': ask AMD KDS for a VCEK missing from the cache), KDS_TIMEOUT_MS (default 5000).
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SFNClient } from '@aws-sdk/client-sfn';
import { awsClientConfig } from '../../shared/clients.ts';
import { booleanEnv, numberEnv, optionalEnv, requireEnv } from '../../shared/env.ts';
import { makeHandler } from '../../shared/middleware.ts';
import { DEFAULT_CHAIN_MAX_AGE_MS } from '../kds-cache.ts';
import { httpFetcher } from '../kds-client.ts';
import { type AmdCertSource, S3AmdCertSource } from '../kds-source.ts';
import { DEFAULT_NONCE_TTL_SECONDS, DynamoNonceStore } from '../nonce-store.ts';
import { AttestationStepInputSchema, runAttestationStep, SfnTaskCallbacks } from '../step.ts';
import { ChainCache } from '../x509.ts';

const ddb = new DynamoDBClient(awsClientConfig());
const secrets = new SecretsManagerClient(awsClientConfig());
const sfn = new SFNClient(awsClientConfig());
// Module scope: warm invocations reuse verified intermediates.
const cache = new ChainCache();

let amdCerts: AmdCertSource | null | undefined;
/** The AMD certificate cache, when the construct configured one (built once per container). */
function amdCertSource(): AmdCertSource | null {
  if (amdCerts !== undefined) return amdCerts;
  const bucket = optionalEnv('AMD_CERT_BUCKET');
  amdCerts = bucket
    ? new S3AmdCertSource({
        s3: new S3Client(awsClientConfig()),
        loc: { bucket, prefix: optionalEnv('AMD_CERT_PREFIX') ?? 'amd/' },
        maxAgeMs: numberEnv('AMD_CERT_MAX_AGE_HOURS', DEFAULT_CHAIN_MAX_AGE_MS / 3600_000) * 3600_000,
        ...(booleanEnv('KDS_FETCH_ON_MISS', false)
          ? { fetcher: httpFetcher({ timeoutMs: numberEnv('KDS_TIMEOUT_MS', 5_000) }) }
          : {}),
      })
    : null;
  return amdCerts;
}

export const handler = makeHandler({
  inputName: 'attestation step input',
  input: AttestationStepInputSchema,
  core: async (input) => {
    const amd = amdCertSource();
    return await runAttestationStep(input, {
      nonceStore: new DynamoNonceStore(ddb, {
        tableName: requireEnv('NONCE_TABLE'),
        ttlSeconds: numberEnv('NONCE_TTL_SECONDS', DEFAULT_NONCE_TTL_SECONDS),
      }),
      secrets,
      callbacks: new SfnTaskCallbacks(sfn),
      secretPrefix: requireEnv('SECRET_PREFIX'),
      cache,
      ...(amd ? { amdCerts: amd } : {}),
    });
  },
});
