/** Session workflow: stage the session's secrets bundle. Env: SECRET_PREFIX, SECRETS_KMS_KEY_ID (optional), AUDIT_BUS_NAME. */
import * as z from 'zod';
import { makeHandler } from '../../shared/middleware.ts';
import { SessionContext } from '../model.ts';
import { stageSecrets } from '../steps.ts';
import { audit, env, secrets } from './deps.ts';

export const handler = makeHandler({
  inputName: 'stage secrets input',
  input: z.object({ session: SessionContext }),
  core: async ({ session }) =>
    await stageSecrets(session, {
      secrets: secrets(),
      audit: audit(),
      secretPrefix: env('SECRET_PREFIX'),
      ...(process.env.SECRETS_KMS_KEY_ID ? { kmsKeyId: process.env.SECRETS_KMS_KEY_ID } : {}),
    }),
});
