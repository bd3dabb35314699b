/** Session workflow: issue the attestation nonce. Env: NONCE_TABLE, NONCE_TTL_SECONDS, SESSION_TABLE, AUDIT_BUS_NAME. */
import * as z from 'zod';
import { DynamoNonceStore } from '../../attestation/nonce-store.ts';
import { numberEnv, requireEnv } from '../../shared/env.ts';
import { makeHandler } from '../../shared/middleware.ts';
import { SessionContext } from '../model.ts';
import { issueNonce } from '../steps.ts';
import { audit, ddb, table } from './deps.ts';

export const handler = makeHandler({
  inputName: 'nonce input',
  input: z.object({ session: SessionContext }),
  core: async ({ session }) => {
    // Required (the construct sets the attestation timeout): a default would expire nonces mid-boot.
    const ttlSeconds = numberEnv('NONCE_TTL_SECONDS', Number(requireEnv('NONCE_TTL_SECONDS')));
    return await issueNonce(session, {
      nonceStore: new DynamoNonceStore(ddb(), { tableName: requireEnv('NONCE_TABLE'), ttlSeconds }),
      table: table(),
      audit: audit(),
      ttlSeconds,
    });
  },
});
