/** Daily schedule: refresh the Sigstore trusted root via TUF into the cache bucket. Input: the schedule event (ignored). Env: TUF_MIRROR_URL (optional). */
import * as z from 'zod';
import { optionalEnv } from '../../shared/env.ts';
import { makeHandler } from '../../shared/middleware.ts';
import { refreshTrustedRoot, tufFetcher } from '../trusted-root.ts';
import { s3, trustedRootLocation } from './deps.ts';

export const handler = makeHandler({
  inputName: 'schedule event',
  input: z.unknown(),
  core: async () => {
    const mirrorURL = optionalEnv('TUF_MIRROR_URL');
    return refreshTrustedRoot(s3, trustedRootLocation(), tufFetcher(mirrorURL ? { mirrorURL } : {}));
  },
});
