/**
 * The guest-facing evidence function: nonce, heartbeat, evidence.
 * Called two ways:
 *  - by a guest through its Function URL (AWS_IAM auth): the caller's instance-profile
 *    identity must be the session's own instance (a guest cannot act for another session);
 *    answers are HTTP responses (400/403/404/409 with the error name, never a stack);
 *  - directly (lambda:InvokeFunction by the control plane only, granted explicitly).
 * Env: SESSION_TABLE, NONCE_TABLE, SECRET_PREFIX, AUDIT_BUS_NAME, INSTANCE_ROLE_NAME.
 */
import * as z from 'zod';
import { DynamoNonceStore } from '../../attestation/nonce-store.ts';
import { ChainCache } from '../../attestation/x509.ts';
import { requireEnv } from '../../shared/env.ts';
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

// Module scope: warm invocations reuse verified intermediates.
const cache = new ChainCache();

const deps = (): EvidenceDeps => ({
  table: table(),
  nonceStore: new DynamoNonceStore(ddb(), { tableName: requireEnv('NONCE_TABLE') }),
  secrets: secrets(),
  callbacks: new SfnCallbacksWithHeartbeat(sfn()),
  audit: audit(),
  secretPrefix: requireEnv('SECRET_PREFIX'),
  cache,
});

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
