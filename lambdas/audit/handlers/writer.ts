/**
 * SQS → audit writer Lambda. The writer core handles the batch as a whole (it
 * groups by session and writes one object per chain); Powertools' BatchProcessor
 * then turns the core's per-record failures into `batchItemFailures`, so only bad
 * or unwritten records are redelivered (and reach the DLQ after maxReceiveCount).
 */
import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { SQSEvent } from 'aws-lambda';
import * as z from 'zod';
import { awsClientConfig } from '../../shared/clients.ts';
import { numberEnv, optionalEnv, requireEnv } from '../../shared/env.ts';
import { logger, makeHandler, metrics } from '../../shared/middleware.ts';
import { dynamoHeadStore } from '../heads.ts';
import { INTEGRITY_METRIC, integrityEvent } from '../integrity.ts';
import { setViolationReporter } from '../retention-guard.ts';
import { publishAuditEvents } from '../schema.ts';
import { type ChainIncident, parseWriterConfig, type Rejection, type WriterConfig, writeBatch } from '../writer.ts';

/** The writer's configuration, from the environment the AuditIngest construct sets. */
function writerConfigFromEnv(): WriterConfig & { headTable: string; busName: string | undefined } {
  const config = parseWriterConfig({
    bucket: requireEnv('AUDIT_BUCKET'),
    prefix: optionalEnv('AUDIT_PREFIX') ?? 'audit/',
    kmsKeyId: requireEnv('AUDIT_KMS_KEY_ID'),
    retentionDays: numberEnv('AUDIT_RETENTION_DAYS', 365),
    lockMode: optionalEnv('AUDIT_LOCK_MODE') ?? 'COMPLIANCE',
    hmacSecretId: optionalEnv('AUDIT_HMAC_SECRET_ID'),
    privacy: JSON.parse(optionalEnv('AUDIT_PRIVACY_CONFIG') ?? '{}'),
  });
  return { ...config, headTable: requireEnv('AUDIT_HEAD_TABLE'), busName: optionalEnv('AUDIT_BUS_NAME') };
}

const s3 = new S3Client(awsClientConfig());
const ddb = new DynamoDBClient(awsClientConfig());
const secrets = new SecretsManagerClient(awsClientConfig());
const eventBridge = new EventBridgeClient(awsClientConfig());
let cached: ReturnType<typeof writerConfigFromEnv> | undefined;

setViolationReporter((v) => {
  logger.error('retention guard refused', { reason: v.reason, ...v.details });
  metrics.addMetric('RetentionShortenRefused', MetricUnit.Count, 1);
});

const SqsEvent = z.looseObject({
  Records: z.array(z.looseObject({ messageId: z.string().min(1), body: z.string() })),
});

function reportRejection(r: Rejection): void {
  // Field paths only: never log a body, it may hold the sensitive values we redact.
  logger.warn('audit record not written', {
    messageId: r.messageId,
    code: r.code,
    reason: r.reason,
    issues: r.issues,
    eventId: r.eventId,
    chain: r.chain,
  });
  metrics.addMetric(`AuditRecordRejected.${r.code}`, MetricUnit.Count, 1);
}

function reportIncident(i: ChainIncident): void {
  logger.error('audit chain key held an object the writer did not write: skipped it', { ...i });
  metrics.addMetric(INTEGRITY_METRIC, MetricUnit.Count, 1);
  metrics.addMetric('AuditChainKeySquatted', MetricUnit.Count, 1);
}

export const handler = makeHandler({
  inputName: 'SQS event',
  input: SqsEvent,
  core: async (event) => {
    cached ??= writerConfigFromEnv();
    const config = cached;
    const result = await writeBatch(event.Records, {
      s3,
      heads: dynamoHeadStore(ddb, config.headTable),
      secrets,
      config,
      onReject: reportRejection,
      onIncident: reportIncident,
    });
    if (result.incidents.length > 0 && config.busName) {
      // The objects are written: a failed PutEvents is logged, not retried (the metric has alarmed already).
      const events = result.incidents.map((i) =>
        integrityEvent(
          i.chain,
          'audit-chain-key-squatted',
          `${i.key} sha256=${i.expectedSha256}`,
          `${i.foundVersionId ?? '?'} sha256=${i.foundSha256 ?? 'unknown'}`,
        ),
      );
      await publishAuditEvents(eventBridge, config.busName, events).catch((e: Error) =>
        logger.error('audit-integrity events not published', { error: e.message }),
      );
    }
    for (const w of result.written) {
      logger.info('audit object written', { ...w });
    }
    metrics.addMetric('AuditObjectsWritten', MetricUnit.Count, result.written.length);
    metrics.addMetric(
      'AuditEventsWritten',
      MetricUnit.Count,
      result.written.reduce((a, w) => a + w.count, 0),
    );
    const failed = new Map(result.failures.map((f) => [f.messageId, f]));
    const processor = new BatchProcessor(EventType.SQS);
    return processPartialResponse(
      event as unknown as SQSEvent,
      async (record: { messageId: string }) => {
        const f = failed.get(record.messageId);
        if (f) throw new Error(`${f.code}: ${f.reason}`);
      },
      processor,
      // Every record failing is still a normal partial response (all redelivered), not a crash.
      { throwOnFullBatchFailure: false },
    );
  },
});
