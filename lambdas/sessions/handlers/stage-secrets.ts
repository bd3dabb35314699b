/** Session workflow: stage the session's secrets bundle. Env: SECRET_PREFIX, SECRETS_KMS_KEY_ID (optional), AUDIT_BUS_NAME. */
import * as z from 'zod';
import { optionalEnv, requireEnv } from '../../shared/env.ts';
import { makeHandler } from '../../shared/middleware.ts';
import { SessionContext } from '../model.ts';
import { stageSecrets } from '../steps.ts';
import { audit, secrets } from './deps.ts';

export const handler = makeHandler({
  inputName: 'stage secrets input',
  input: z.object({ session: SessionContext }),
  core: async ({ session }) => {
    const kmsKeyId = optionalEnv('SECRETS_KMS_KEY_ID');
    return await stageSecrets(session, {
      secrets: secrets(),
      audit: audit(),
      secretPrefix: requireEnv('SECRET_PREFIX'),
      ...(kmsKeyId ? { kmsKeyId } : {}),
    });
  },
});
