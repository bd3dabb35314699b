/**
 * Scheduled (hourly) digest Lambda: a signed, Object-Locked digest for every chain
 * that grew since its last digest.
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KMSClient } from '@aws-sdk/client-kms';
import { S3Client } from '@aws-sdk/client-s3';
import * as z from 'zod';
import { awsClientConfig } from '../../shared/clients.ts';
import { TransientError } from '../../shared/errors.ts';
import { logger, makeHandler, metrics } from '../../shared/middleware.ts';
import { dynamoHeadStore } from '../chain.ts';
import { type DigestSigner, kmsSigner, runDigests } from '../digest.ts';

const Env = z.object({
  AUDIT_BUCKET: z.string().min(3),
  AUDIT_PREFIX: z.string().default('audit/'),
  AUDIT_KMS_KEY_ID: z.string().min(1),
  AUDIT_RETENTION_DAYS: z.coerce.number().int().min(1).default(365),
  AUDIT_LOCK_MODE: z.enum(['COMPLIANCE', 'GOVERNANCE']).default('COMPLIANCE'),
  AUDIT_HEAD_TABLE: z.string().min(1),
  AUDIT_SIGNING_KEY_ID: z.string().min(1),
});

const s3 = new S3Client(awsClientConfig());
const ddb = new DynamoDBClient(awsClientConfig());
const kms = new KMSClient(awsClientConfig());
let signer: DigestSigner | undefined;

export const handler = makeHandler({
  inputName: 'schedule event',
  input: z.unknown(),
  core: async () => {
    const env = Env.parse(process.env);
    signer ??= await kmsSigner(kms, env.AUDIT_SIGNING_KEY_ID);
    const result = await runDigests({
      s3,
      heads: dynamoHeadStore(ddb, env.AUDIT_HEAD_TABLE),
      signer,
      config: {
        bucket: env.AUDIT_BUCKET,
        prefix: env.AUDIT_PREFIX,
        kmsKeyId: env.AUDIT_KMS_KEY_ID,
        retentionDays: env.AUDIT_RETENTION_DAYS,
        lockMode: env.AUDIT_LOCK_MODE,
      },
    });
    for (const e of result.errors) logger.error('digest failed for chain', { ...e });
    metrics.addMetric('AuditDigestsWritten', MetricUnit.Count, result.written.length);
    metrics.addMetric('AuditDigestErrors', MetricUnit.Count, result.errors.length);
    // Fail the invocation so the alarm on Errors fires; the next run retries the failed chains.
    if (result.errors.length > 0) {
      throw new TransientError(`digest failed for ${result.errors.length} chain(s)`, { errors: result.errors });
    }
    return { written: result.written.length, skipped: result.skipped };
  },
});
