/**
 * Module-scope clients and the warm verifier shared by the plugin handlers.
 *
 * Env: REGISTRY_TABLE, TRUSTED_ROOT_BUCKET, TRUSTED_ROOT_KEY (default sigstore/trusted_root.json),
 * TRUSTED_ROOT_MAX_AGE_HOURS (default 168), TRUSTED_KEYS_KEY (optional sigstore-js keys document
 * in the same bucket, e.g. npm registry keys), TRUST_POLICY (the policy JSON), POLICY_VERSION.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { awsClientConfig } from '../../shared/clients.ts';
import { ValidationError } from '../../shared/errors.ts';
import { parseTrustPolicy, type TrustPolicy } from '../policy.ts';
import { PluginRegistry } from '../registry.ts';
import { loadTrustedRoot } from '../trusted-root.ts';
import { npmRegistryKeys, PluginVerifier } from '../verify.ts';

export const s3 = new S3Client(awsClientConfig());
export const ddb = new DynamoDBClient(awsClientConfig());

export function env(name: string): string {
  const v = process.env[name];
  if (!v) throw new ValidationError(`environment variable ${name} is not set`);
  return v;
}

export const registry = (): PluginRegistry => new PluginRegistry(ddb, { tableName: env('REGISTRY_TABLE') });

let policy: TrustPolicy | undefined;
export function trustPolicy(): TrustPolicy {
  policy ??= parseTrustPolicy(env('TRUST_POLICY'));
  return policy;
}

// Warm verifier: the trusted root is parsed once per container and re-read at most hourly,
// so a refreshed root is picked up and a stale cache still fails closed (TrustedRootStaleError).
const REREAD_MS = 3600_000;
let warm: { verifier: PluginVerifier; at: number } | undefined;
export async function verifier(now = Date.now()): Promise<PluginVerifier> {
  if (warm && now - warm.at < REREAD_MS) return warm.verifier;
  const bucket = env('TRUSTED_ROOT_BUCKET');
  const root = await loadTrustedRoot(
    s3,
    { bucket, key: process.env.TRUSTED_ROOT_KEY ?? 'sigstore/trusted_root.json' },
    { maxAgeMs: Number(process.env.TRUSTED_ROOT_MAX_AGE_HOURS ?? 168) * 3600_000 },
  );
  let keys = {};
  if (process.env.TRUSTED_KEYS_KEY) {
    const r = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: process.env.TRUSTED_KEYS_KEY }));
    keys = npmRegistryKeys(JSON.parse((await r.Body?.transformToString()) ?? '{}'));
  }
  warm = { verifier: PluginVerifier.fromTrustedRoot(root.json, keys), at: now };
  return warm.verifier;
}
