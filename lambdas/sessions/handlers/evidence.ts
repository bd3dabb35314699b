/**
 * The guest-facing evidence function: nonce, heartbeat, evidence.
 * Called two ways:
 *  - by a guest through its Function URL (AWS_IAM auth): the caller's instance-profile
 *    identity must be the session's own instance (a guest cannot act for another session);
 *    answers are HTTP responses (400/403/404/409 with the error name, never a stack);
 *  - directly (lambda:InvokeFunction by the control plane only, granted explicitly).
 * Env: SESSION_TABLE, NONCE_TABLE, SECRET_PREFIX, AUDIT_BUS_NAME, INSTANCE_ROLE_NAME;
 * optional AMD certificate cache (read only, refreshed daily): AMD_CERT_BUCKET,
 * AMD_CERT_PREFIX (default 'amd/'), AMD_CERT_MAX_AGE_HOURS (default 72).
 */
import { S3Client } from '@aws-sdk/client-s3';
import * as z from 'zod';
import { DEFAULT_CHAIN_MAX_AGE_MS } from '../../attestation/kds-cache.ts';
import { S3AmdCertSource } from '../../attestation/kds-source.ts';
import { DynamoNonceStore } from '../../attestation/nonce-store.ts';
import { ChainCache } from '../../attestation/x509.ts';
import { awsClientConfig } from '../../shared/clients.ts';
import { numberEnv, optionalEnv, requireEnv } from '../../shared/env.ts';
import { AidopsError } from '../../shared/errors.ts';
import { makeHandler } from '../../shared/middleware.ts';
import { parseOrThrow } from '../../shared/validation.ts';
import {
  bodyOf,
  callerFromUrlEvent,
  type EvidenceDeps,
  EvidenceRequest,
  FunctionUrlEvent,
  handleEvidence,
} from '../evidence.ts';
import { audit, ddb, SfnCallbacksWithHeartbeat, secrets, sfn, table } from './deps.ts';

// Module scope: warm invocations reuse verified CAs and leaf certificates.
const cache = new ChainCache();

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

const deps = (): EvidenceDeps => {
  const amd = amdCertSource();
  return {
    table: table(),
    nonceStore: new DynamoNonceStore(ddb(), { tableName: requireEnv('NONCE_TABLE') }),
    secrets: secrets(),
    callbacks: new SfnCallbacksWithHeartbeat(sfn()),
    audit: audit(),
    secretPrefix: requireEnv('SECRET_PREFIX'),
    cache,
    ...(amd ? { amdCerts: amd } : {}),
  };
};

const STATUS: Record<string, number> = {
  ValidationError: 400,
  ForbiddenError: 403,
  NotFoundError: 404,
  ConflictError: 409,
};

async function fromUrl(event: z.output<typeof FunctionUrlEvent>) {
  try {
    const caller = callerFromUrlEvent(event, requireEnv('INSTANCE_ROLE_NAME'));
    const request = parseOrThrow(EvidenceRequest, bodyOf(event), 'evidence request');
    const out = await handleEvidence(request, { ...deps(), caller });
    return { statusCode: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify(out) };
  } catch (e) {
    if (!(e instanceof AidopsError) || STATUS[e.name] === undefined) throw e; // 5xx: retried by the guest
    return {
      statusCode: STATUS[e.name],
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ error: e.name, message: e.message }),
    };
  }
}

export const handler = makeHandler({
  inputName: 'evidence request',
  input: z.union([FunctionUrlEvent, EvidenceRequest]),
  core: async (input) => ('requestContext' in input ? await fromUrl(input) : await handleEvidence(input, deps())),
});
