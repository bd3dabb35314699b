/**
 * Daily schedule: fetch the AMD VCEK and VLEK chains (ASK/ASVK + ARK) of Milan, Genoa and
 * Turin from AMD KDS, verify each against the pinned ARK, and cache them in S3.
 * Input: the schedule event (ignored). Env: AMD_CERT_BUCKET, AMD_CERT_PREFIX (default 'amd/'),
 * KDS_TIMEOUT_MS (default 10000).
 */
import { S3Client } from '@aws-sdk/client-s3';
import * as z from 'zod';
import { awsClientConfig } from '../../shared/clients.ts';
import { numberEnv, optionalEnv, requireEnv } from '../../shared/env.ts';
import { makeHandler } from '../../shared/middleware.ts';
import { refreshAmdChains } from '../kds-cache.ts';
import { httpFetcher } from '../kds-client.ts';

const s3 = new S3Client(awsClientConfig());

export const handler = makeHandler({
  inputName: 'schedule event',
  input: z.unknown(),
  core: async () =>
    refreshAmdChains(
      s3,
      { bucket: requireEnv('AMD_CERT_BUCKET'), prefix: optionalEnv('AMD_CERT_PREFIX') ?? 'amd/' },
      httpFetcher({ timeoutMs: numberEnv('KDS_TIMEOUT_MS', 10_000) }),
    ),
});
