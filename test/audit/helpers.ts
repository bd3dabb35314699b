/** Shared setup for the audit tests against moto: a locked bucket, head table, keys, HMAC secret. */
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { CreateBucketCommand, PutObjectLockConfigurationCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DeleteMessageBatchCommand, ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { type DigestDeps, type DigestWritten, digestChain } from '../../lambdas/audit/digest.ts';
import type { DigestSigner } from '../../lambdas/audit/digest-format.ts';
import { kmsSigner } from '../../lambdas/audit/digest-signer.ts';
import { dynamoHeadStore, type HeadStore } from '../../lambdas/audit/heads.ts';
import { AUDIT_DETAIL_TYPE, AUDIT_EVENT_SOURCE, type AuditEvent, newEvent } from '../../lambdas/audit/schema.ts';
import { s3AuditStore, type Trust, trustFromKms, type VerifyReport, verifyAudit } from '../../lambdas/audit/verify.ts';
import {
  parseWriterConfig,
  type RawRecord,
  type WriteResult,
  type WriterDeps,
  writeBatch,
} from '../../lambdas/audit/writer.ts';
import { awsClientConfig } from '../../lambdas/shared/clients.ts';

export interface AuditEnv {
  readonly s3: S3Client;
  readonly ddb: DynamoDBClient;
  readonly kms: KMSClient;
  readonly secrets: SecretsManagerClient;
  readonly bucket: string;
  readonly table: string;
  readonly sseKeyId: string;
  readonly signingKeyId: string;
  readonly signer: DigestSigner;
  readonly trust: Trust;
  readonly secretId: string;
  readonly heads: HeadStore;
  readonly mode: 'COMPLIANCE' | 'GOVERNANCE';
  readonly deps: WriterDeps;
}

let n = 0;

/** Creates everything the writer, digester and verifier need in moto. */
export async function setupAuditEnv(
  endpoint: string,
  opts: { mode: 'COMPLIANCE' | 'GOVERNANCE'; defaultRetention?: boolean; retentionDays?: number },
): Promise<AuditEnv> {
  const cfg = awsClientConfig({ endpoint });
  const s3 = new S3Client(cfg);
  const ddb = new DynamoDBClient(cfg);
  const kms = new KMSClient(cfg);
  const secrets = new SecretsManagerClient(cfg);
  const id = `${Date.now().toString(36)}-${n++}`;
  const bucket = `audit-${opts.mode.toLowerCase()}-${id}`;
  const table = `audit-heads-${id}`;
  await s3.send(new CreateBucketCommand({ Bucket: bucket, ObjectLockEnabledForBucket: true }));
  if (opts.defaultRetention) {
    await s3.send(
      new PutObjectLockConfigurationCommand({
        Bucket: bucket,
        ObjectLockConfiguration: {
          ObjectLockEnabled: 'Enabled',
          Rule: { DefaultRetention: { Mode: opts.mode, Days: opts.retentionDays ?? 365 } },
        },
      }),
    );
  }
  await ddb.send(
    new CreateTableCommand({
      TableName: table,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [{ AttributeName: 'chain', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'chain', KeyType: 'HASH' }],
    }),
  );
  const sse = await kms.send(new CreateKeyCommand({ Description: 'audit sse' }));
  const sig = await kms.send(new CreateKeyCommand({ KeySpec: 'ECC_NIST_P384', KeyUsage: 'SIGN_VERIFY' }));
  const secret = await secrets.send(
    new CreateSecretCommand({ Name: `audit-hmac-${id}`, SecretString: 'k'.repeat(16) + id.padEnd(32, 'x') }),
  );
  const signingKeyId = sig.KeyMetadata!.KeyId!;
  const heads = dynamoHeadStore(ddb, table);
  const config = parseWriterConfig({
    bucket,
    prefix: 'audit/',
    kmsKeyId: sse.KeyMetadata!.KeyId!,
    retentionDays: opts.retentionDays ?? 365,
    lockMode: opts.mode,
    hmacSecretId: secret.ARN,
  });
  return {
    s3,
    ddb,
    kms,
    secrets,
    bucket,
    table,
    sseKeyId: sse.KeyMetadata!.KeyId!,
    signingKeyId,
    signer: await kmsSigner(kms, signingKeyId),
    trust: await trustFromKms(kms, signingKeyId),
    secretId: secret.ARN!,
    heads,
    mode: opts.mode,
    deps: { s3, heads, secrets, config },
  };
}

/** An SQS record body as EventBridge delivers it to the queue. */
export function ebRecord(detail: unknown, messageId: string = crypto.randomUUID()): RawRecord {
  return {
    messageId,
    body: JSON.stringify({
      version: '0',
      id: crypto.randomUUID(),
      'detail-type': AUDIT_DETAIL_TYPE,
      source: AUDIT_EVENT_SOURCE,
      account: '123456789012',
      time: new Date().toISOString(),
      region: 'us-east-1',
      resources: [],
      detail,
    }),
  };
}

export function sampleEvents(sessionId: string | null, count: number): AuditEvent[] {
  const out: AuditEvent[] = [];
  for (let i = 0; i < count; i++) {
    const k = i % 3;
    if (k === 0) {
      out.push(
        newEvent('intent', {
          source: 'aidops.agent',
          sessionId,
          sandboxId: sessionId ? `sbx-${sessionId}` : null,
          user: { id: 'alice@example.com', type: 'human' },
          policyVersion: 'p-1',
          detail: { type: 'prompt', text: `secret prompt ${i}` },
        }),
      );
    } else if (k === 1) {
      out.push(
        newEvent('action', {
          source: 'aidops.agent',
          sessionId,
          detail: { type: 'fs_write', path: `/tmp/f${i}`, bytes: 12, outcome: 'success', content: `file body ${i}` },
        }),
      );
    } else {
      out.push(
        newEvent('decision', {
          source: 'aidops.policy',
          sessionId,
          detail: { engine: 'cedar', inputDigest: 'a'.repeat(64), outcome: 'allow', reasons: ['policy0'] },
        }),
      );
    }
  }
  return out;
}

/** Writes `batches` objects of `perBatch` events to one chain through the real writer core. */
export async function writeChain(env: AuditEnv, sessionId: string, batches: number, perBatch = 4): Promise<void> {
  for (let b = 0; b < batches; b++) {
    const r = await writeBatch(
      sampleEvents(sessionId, perBatch).map((e) => ebRecord(e)),
      env.deps,
    );
    if (r.failures.length > 0) throw new Error(`write failed: ${JSON.stringify(r.failures)}`);
  }
}

export function digestDeps(env: AuditEnv): DigestDeps {
  return {
    s3: env.s3,
    heads: env.heads,
    signer: env.signer,
    config: { bucket: env.bucket, prefix: 'audit/', kmsKeyId: env.sseKeyId, retentionDays: 365, lockMode: env.mode },
  };
}

/** Digests one chain (other tests' chains in the same bucket are deliberately broken). */
export async function digestSession(env: AuditEnv, session: string): Promise<DigestWritten | null> {
  return digestChain(digestDeps(env), await env.heads.get(session));
}

export async function verifySession(
  env: AuditEnv,
  session: string | undefined,
  extra: {
    policyMode?: 'COMPLIANCE' | 'GOVERNANCE';
    maxDigestLagMs?: number;
    trust?: Trust;
    retentionDays?: number;
    /** false: verify without the head table (offline). */
    heads?: boolean;
  } = {},
): Promise<VerifyReport> {
  return verifyAudit({
    store: s3AuditStore(env.s3, env.bucket),
    heads: extra.heads === false ? undefined : env.heads,
    prefix: 'audit/',
    session,
    trust: extra.trust ?? env.trust,
    policy: { retentionDays: extra.retentionDays ?? 365, mode: extra.policyMode ?? env.mode },
    maxDigestLagMs: extra.maxDigestLagMs,
  });
}

export const codes = (r: VerifyReport): string[] => r.findings.map((f) => f.code).sort();

/**
 * The Lambda SQS event-source mapping, once, for tests: receives one batch (≤ 10
 * messages), runs the writer core on it and deletes the messages that were written
 * (or dropped as duplicates); failed ones stay and are redelivered after the
 * visibility timeout, then go to the DLQ after maxReceiveCount — the same contract
 * as the mapping with ReportBatchItemFailures.
 */
export async function drainQueueOnce(
  sqs: SQSClient,
  queueUrl: string,
  deps: WriterDeps,
  opts: { maxMessages?: number; waitTimeSeconds?: number; visibilityTimeout?: number } = {},
): Promise<{ received: number; deleted: number; result: WriteResult }> {
  const got = await sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: queueUrl,
      MaxNumberOfMessages: Math.min(10, opts.maxMessages ?? 10),
      WaitTimeSeconds: opts.waitTimeSeconds ?? 0,
      VisibilityTimeout: opts.visibilityTimeout,
    }),
  );
  const msgs = (got.Messages ?? []).filter((m) => m.MessageId && m.ReceiptHandle);
  if (msgs.length === 0) {
    return { received: 0, deleted: 0, result: { written: [], failures: [], duplicates: [], incidents: [] } };
  }
  const result = await writeBatch(
    msgs.map((m) => ({ messageId: m.MessageId!, body: m.Body ?? '' })),
    deps,
  );
  const failed = new Set(result.failures.map((f) => f.messageId));
  const done = msgs.filter((m) => !failed.has(m.MessageId!));
  let deleted = 0;
  for (let i = 0; i < done.length; i += 10) {
    const chunk = done.slice(i, i + 10);
    const out = await sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: chunk.map((m, j) => ({ Id: String(j), ReceiptHandle: m.ReceiptHandle! })),
      }),
    );
    deleted += out.Successful?.length ?? 0;
  }
  return { received: msgs.length, deleted, result };
}
