/** Daily schedule: refresh the Sigstore trusted root via TUF into the cache bucket. Input: the schedule event (ignored). */
import * as z from 'zod';
import { makeHandler } from '../../shared/middleware.ts';
import { refreshTrustedRoot, tufFetcher } from '../trusted-root.ts';
import { env, s3 } from './deps.ts';

export const handler = makeHandler({
  inputName: 'schedule event',
  input: z.unknown(),
  core: async () =>
    refreshTrustedRoot(
      s3,
      { bucket: env('TRUSTED_ROOT_BUCKET'), key: process.env.TRUSTED_ROOT_KEY ?? 'sigstore/trusted_root.json' },
      tufFetcher(process.env.TUF_MIRROR_URL ? { mirrorURL: process.env.TUF_MIRROR_URL } : {}),
    ),
});
