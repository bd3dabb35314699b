/**
 * Module-scope clients, the configuration and the warm verifier shared by the plugin handlers.
 *
 * Env: REGISTRY_TABLE, TRUSTED_ROOT_BUCKET, TRUSTED_ROOT_KEY (default sigstore/trusted_root.json),
 * TRUSTED_ROOT_MAX_AGE_HOURS (default 168), TRUSTED_KEYS_KEY (optional sigstore-js keys document
 * in the same bucket, e.g. npm registry keys), TRUST_POLICY (the policy JSON), POLICY_VERSION (optional).
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { awsCall } from '../../shared/aws-errors.ts';
import { awsClientConfig } from '../../shared/clients.ts';
import { numberEnv, optionalEnv, requireEnv } from '../../shared/env.ts';
import { parseTrustPolicy, type TrustPolicy } from '../policy.ts';
import { PluginRegistry } from '../registry.ts';
import { loadTrustedRoot, type TrustedRootLocation } from '../trusted-root.ts';
import { npmRegistryKeys, PluginVerifier } from '../verify.ts';

export const s3 = new S3Client(awsClientConfig());
export const ddb = new DynamoDBClient(awsClientConfig());

export const registry = (): PluginRegistry => new PluginRegistry(ddb, { tableName: requireEnv('REGISTRY_TABLE') });

/** The trust policy version recorded in audit events, when the deployment names one. */
export const policyVersion = (): string | null => optionalEnv('POLICY_VERSION') ?? null;

/** Where the cached Sigstore trusted root lives. */
export const trustedRootLocation = (): TrustedRootLocation => ({
  bucket: requireEnv('TRUSTED_ROOT_BUCKET'),
  key: optionalEnv('TRUSTED_ROOT_KEY'),
});

let policy: TrustPolicy | undefined;
export function trustPolicy(): TrustPolicy {
  policy ??= parseTrustPolicy(requireEnv('TRUST_POLICY'));
  return policy;
}

// Warm verifier: the trusted root is parsed once per container and re-read at most hourly,
// so a refreshed root is picked up and a stale cache still fails closed (TrustedRootStaleError).
const REREAD_MS = 3600_000;
let warm: { verifier: PluginVerifier; at: number } | undefined;
export async function verifier(now = Date.now()): Promise<PluginVerifier> {
  if (warm && now - warm.at < REREAD_MS) return warm.verifier;
  const location = trustedRootLocation();
  const root = await loadTrustedRoot(s3, location, {
    maxAgeMs: numberEnv('TRUSTED_ROOT_MAX_AGE_HOURS', 168) * 3600_000,
  });
  let keys = {};
  const keysKey = optionalEnv('TRUSTED_KEYS_KEY');
  if (keysKey) {
    const r = await awsCall('s3:GetObject', () =>
      s3.send(new GetObjectCommand({ Bucket: location.bucket, Key: keysKey })),
    );
    keys = npmRegistryKeys(JSON.parse((await r.Body?.transformToString()) ?? '{}'));
  }
  warm = { verifier: PluginVerifier.fromTrustedRoot(root.json, keys), at: now };
  return warm.verifier;
}
