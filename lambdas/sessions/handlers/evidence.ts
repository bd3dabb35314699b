/**
 * The guest-facing evidence function: nonce, heartbeat, evidence.
 * Env: SESSION_TABLE, NONCE_TABLE, SECRET_PREFIX, AUDIT_BUS_NAME.
 */
import { DynamoNonceStore } from '../../attestation/nonce-store.ts';
import { ChainCache } from '../../attestation/x509.ts';
import { makeHandler } from '../../shared/middleware.ts';
import { EvidenceRequest, handleEvidence } from '../evidence.ts';
import { audit, ddb, env, SfnCallbacksWithHeartbeat, secrets, sfn, table } from './deps.ts';

// Module scope: warm invocations reuse verified intermediates.
const cache = new ChainCache();

export const handler = makeHandler({
  inputName: 'evidence request',
  input: EvidenceRequest,
  core: async (input) =>
    await handleEvidence(input, {
      table: table(),
      nonceStore: new DynamoNonceStore(ddb(), { tableName: env('NONCE_TABLE') }),
      secrets: secrets(),
      callbacks: new SfnCallbacksWithHeartbeat(sfn()),
      audit: audit(),
      secretPrefix: env('SECRET_PREFIX'),
      cache,
    }),
});
