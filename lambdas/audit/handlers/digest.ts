/**
 * Scheduled (hourly) digest Lambda: a signed, Object-Locked digest for every chain
 * that grew since its last digest.
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { KMSClient } from '@aws-sdk/client-kms';
import { S3Client } from '@aws-sdk/client-s3';
import * as z from 'zod';
import { awsClientConfig } from '../../shared/clients.ts';
import { numberEnv, optionalEnv, requireEnv } from '../../shared/env.ts';
import { ConfigurationError, TransientError } from '../../shared/errors.ts';
import { logger, makeHandler, metric, metrics } from '../../shared/middleware.ts';
import { type DigestConfig, runDigests } from '../digest.ts';
import type { DigestSigner } from '../digest-format.ts';
import { kmsSigner } from '../digest-signer.ts';
import { dynamoHeadStore } from '../heads.ts';
import { INTEGRITY_METRIC, integrityEvent } from '../integrity.ts';
import { publishAuditEvents } from '../schema.ts';

/** The digester's configuration, from the environment the AuditIngest construct sets. */
function configFromEnv(): DigestConfig & { headTable: string; signingKeyId: string; busName: string | undefined } {
  const lockMode = optionalEnv('AUDIT_LOCK_MODE') ?? 'COMPLIANCE';
  if (lockMode !== 'COMPLIANCE' && lockMode !== 'GOVERNANCE') {
    throw new ConfigurationError(
      `environment variable AUDIT_LOCK_MODE must be COMPLIANCE or GOVERNANCE, got ${lockMode}`,
      {
        variable: 'AUDIT_LOCK_MODE',
      },
    );
  }
  return {
    bucket: requireEnv('AUDIT_BUCKET'),
    prefix: optionalEnv('AUDIT_PREFIX') ?? 'audit/',
    kmsKeyId: requireEnv('AUDIT_KMS_KEY_ID'),
    retentionDays: numberEnv('AUDIT_RETENTION_DAYS', 365),
    lockMode,
    headTable: requireEnv('AUDIT_HEAD_TABLE'),
    signingKeyId: requireEnv('AUDIT_SIGNING_KEY_ID'),
    busName: optionalEnv('AUDIT_BUS_NAME'),
  };
}

const s3 = new S3Client(awsClientConfig());
const ddb = new DynamoDBClient(awsClientConfig());
const kms = new KMSClient(awsClientConfig());
const eventBridge = new EventBridgeClient(awsClientConfig());
let signer: DigestSigner | undefined;

export const handler = makeHandler({
  inputName: 'schedule event',
  input: z.unknown(),
  core: async () => {
    const { headTable, signingKeyId, busName, ...config } = configFromEnv();
    signer ??= await kmsSigner(kms, signingKeyId);
    const result = await runDigests({ s3, heads: dynamoHeadStore(ddb, headTable), signer, config, metric });
    for (const e of result.errors) logger.error('digest failed for chain', { ...e });
    for (const s of result.squatted) logger.error('digest key held an object the digester did not write', { ...s });
    metrics.addMetric('AuditDigestsWritten', MetricUnit.Count, result.written.length);
    metrics.addMetric('AuditDigestErrors', MetricUnit.Count, result.errors.length);
    metrics.addMetric('AuditDigestRefused', MetricUnit.Count, result.refused.length);
    metrics.addMetric(INTEGRITY_METRIC, MetricUnit.Count, result.refused.length + result.squatted.length);
    const events = [
      ...result.refused.map((r) =>
        integrityEvent(r.chain, 'audit-digest-refused', 'every new object checks out', `${r.reason}: ${r.message}`),
      ),
      ...result.squatted.map((s) =>
        integrityEvent(
          s.chain,
          'audit-chain-key-squatted',
          `${s.key} written by the digester`,
          `${s.versionId ?? '?'} put by someone else`,
        ),
      ),
    ];
    if (events.length > 0 && busName) {
      await publishAuditEvents(eventBridge, busName, events).catch((e: Error) =>
        logger.error('audit-integrity events not published', { error: e.message }),
      );
    }
    // Fail the invocation so the alarm on Errors fires; the next run retries the failed chains.
    if (result.errors.length > 0) {
      throw new TransientError(`digest failed for ${result.errors.length} chain(s)`, { errors: result.errors });
    }
    return { written: result.written.length, skipped: result.skipped };
  },
});
