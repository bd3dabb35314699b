/**
 * What the guests' door builds from its environment (module scope: reused while warm).
 * Env: SESSION_TABLE, NONCE_TABLE, NONCE_TTL_SECONDS, SECRET_PREFIX, AUDIT_BUS_NAME,
 * INSTANCE_ROLE_NAMES (comma-separated), REQUEST_TABLE, FLAG_PREFIX, FLAG_CACHE_SECONDS,
 * POLICY_PARAMETER, CALLER_REQUESTS, CALLER_WINDOW_SECONDS; optional AMD certificate cache
 * (read only, refreshed daily): AMD_CERT_BUCKET, AMD_CERT_PREFIX (default 'amd/'),
 * AMD_CERT_MAX_AGE_HOURS (default 72).
 */
import { S3Client } from '@aws-sdk/client-s3';
import { DEFAULT_CHAIN_MAX_AGE_MS } from '../../../attestation/kds-cache.ts';
import { S3AmdCertSource } from '../../../attestation/kds-source.ts';
import { DynamoNonceStore } from '../../../attestation/nonce-store.ts';
import { ChainCache } from '../../../attestation/x509.ts';
import { FlagReader, SsmFlags } from '../../../sessions/flags.ts';
import { audit, ddb, SfnCallbacksWithHeartbeat, secrets, sfn, ssm, table } from '../../../sessions/handlers/deps.ts';
import { awsClientConfig } from '../../../shared/clients.ts';
import { numberEnv, optionalEnv, requireEnv } from '../../../shared/env.ts';
import { metric } from '../../../shared/middleware.ts';
import type { GuestDoorDeps } from '../door.ts';
import { SessionMarks } from '../marks.ts';
import { PolicyPointer } from '../policy-pointer.ts';
import { RequestStore } from '../requests.ts';

/**
 * The clock evidence is verified by (and nonces issued and consumed by). In AWS, the wall
 * clock. Certificates inside evidence expire hours after it is made, so a recorded document
 * (the tests', the demo's) is replayed through the real door at its own time by setting this.
 */
export const attestationClock = { now: (): Date => new Date() };

// Module scope: warm invocations reuse verified CAs and leaf certificates, flags and the policy pointer.
const cache = new ChainCache();
let flags: FlagReader | undefined;
let policy: PolicyPointer | undefined;
let amdCerts: S3AmdCertSource | null | undefined;

/** The deployment's verified AMD chain cache, when configured (the door never asks AMD KDS itself). */
function amdCertSource(): S3AmdCertSource | null {
  if (amdCerts !== undefined) return amdCerts;
  const bucket = optionalEnv('AMD_CERT_BUCKET');
  amdCerts = bucket
    ? new S3AmdCertSource({
        s3: new S3Client(awsClientConfig()),
        loc: { bucket, prefix: optionalEnv('AMD_CERT_PREFIX') ?? 'amd/' },
        maxAgeMs: numberEnv('AMD_CERT_MAX_AGE_HOURS', DEFAULT_CHAIN_MAX_AGE_MS / 3600_000) * 3600_000,
      })
    : null;
  return amdCerts;
}

export function doorDeps(): GuestDoorDeps {
  const amd = amdCertSource();
  const store = new SsmFlags(ssm(), requireEnv('FLAG_PREFIX'));
  flags ??= new FlagReader(() => store.list(), { ttlMs: numberEnv('FLAG_CACHE_SECONDS', 30) * 1000 });
  policy ??= new PolicyPointer(ssm(), requireEnv('POLICY_PARAMETER'));
  // Required (the construct sets the attestation budget): a default would expire nonces mid-boot.
  const ttlSeconds = numberEnv('NONCE_TTL_SECONDS', Number(requireEnv('NONCE_TTL_SECONDS')));
  return {
    table: table(),
    marks: new SessionMarks(ddb(), requireEnv('SESSION_TABLE')),
    requests: new RequestStore(ddb(), requireEnv('REQUEST_TABLE')),
    nonceStore: new DynamoNonceStore(ddb(), {
      tableName: requireEnv('NONCE_TABLE'),
      ttlSeconds,
      now: () => attestationClock.now().getTime(),
    }),
    nonceTtlSeconds: ttlSeconds,
    secrets: secrets(),
    callbacks: new SfnCallbacksWithHeartbeat(sfn()),
    audit: audit(),
    secretPrefix: requireEnv('SECRET_PREFIX'),
    roleNames: requireEnv('INSTANCE_ROLE_NAMES').split(','),
    callerLimit: {
      requests: numberEnv('CALLER_REQUESTS', 120),
      windowSeconds: numberEnv('CALLER_WINDOW_SECONDS', 60),
    },
    flags,
    policy,
    attestationNow: () => attestationClock.now(),
    cache,
    ...(amd ? { amdCerts: amd } : {}),
    metric,
  };
}
