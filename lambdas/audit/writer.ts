/**
 * Writer core: a batch of SQS records (each an EventBridge event whose detail is
 * an audit event) → validated, redacted, grouped by chain, and ONE write-once
 * object per chain per batch. Bad records are returned with their reason (the
 * handler reports them as partial batch failures; after maxReceiveCount SQS moves
 * them to the DLQ); the rest of the batch is written.
 */
import { createHash } from 'node:crypto';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import * as z from 'zod';
import { awsCall } from '../shared/aws-errors.ts';
import { mapLimit } from '../shared/concurrency.ts';
import { AidopsError, TransientError, ValidationError } from '../shared/errors.ts';
import { parseOrThrow } from '../shared/validation.ts';
import { buildChainObject, type ChainPointer, chainObjectKey, normalizePrefix, parseChainHeader } from './chain.ts';
import type { ChainHead, HeadStore } from './heads.ts';
import { type HmacKey, loadHmacKey, makeRedactor, needsHmacKey, PrivacyConfig, type Redactor } from './redact.ts';
import { ObjectExistsError, putLocked, retainUntilFrom } from './retention-guard.ts';
import {
  AUDIT_DETAIL_TYPE,
  AUDIT_EVENT_SOURCE,
  AuditEvent,
  type AuditEvent as AuditEventT,
  chainOf,
} from './schema.ts';

export const WriterConfig = z.strictObject({
  bucket: z.string().min(3),
  /** @default 'audit/' */
  prefix: z.string().default('audit/'),
  /** SSE-KMS key for the objects (id, ARN or alias). */
  kmsKeyId: z.string().min(1),
  retentionDays: z.number().int().min(1).max(36_500),
  /** @default 'COMPLIANCE'. GOVERNANCE exists for tamper tests only: it can be bypassed. */
  lockMode: z.enum(['COMPLIANCE', 'GOVERNANCE']).default('COMPLIANCE'),
  /** Secrets Manager id of the HMAC key; required when the privacy config tokenizes. */
  hmacSecretId: z.string().min(1).optional(),
  privacy: PrivacyConfig.default(() => PrivacyConfig.parse({})),
  /** Chains written in parallel per batch. @default 4 */
  chainConcurrency: z.number().int().min(1).max(64).default(4),
});
export type WriterConfig = z.output<typeof WriterConfig>;
export type WriterConfigInput = z.input<typeof WriterConfig>;

export function parseWriterConfig(input: unknown): WriterConfig {
  return parseOrThrow(WriterConfig, input, 'audit writer config');
}

export interface WriterDeps {
  readonly s3: S3Client;
  readonly heads: HeadStore;
  readonly config: WriterConfig;
  /** Needed when the privacy config tokenizes and no `hmacKey` is given. */
  readonly secrets?: SecretsManagerClient;
  /** Preloaded key (tests, benchmarks); otherwise fetched and cached from `config.hmacSecretId`. */
  readonly hmacKey?: HmacKey;
  /** @default () => new Date() */
  readonly now?: () => Date;
  /** Called once per rejected record (log it with its reason, count a metric). */
  readonly onReject?: (r: Rejection) => void;
}

/** What the writer needs of an SQS record (Lambda's SQSRecord has more). */
export interface RawRecord {
  readonly messageId: string;
  readonly body: string;
}

export type RejectionCode = 'MALFORMED_JSON' | 'NOT_AN_AUDIT_EVENT' | 'INVALID_EVENT' | 'WRITE_FAILED';

export interface Rejection {
  readonly messageId: string;
  readonly code: RejectionCode;
  readonly reason: string;
  /** Field paths and messages (never field values: they may be sensitive). */
  readonly issues?: readonly { path: string; message: string }[];
  readonly eventId?: string;
  readonly chain?: string;
}

export interface WrittenObject {
  readonly chain: string;
  readonly seq: number;
  readonly key: string;
  readonly versionId: string;
  readonly sha256: string;
  readonly count: number;
}

export interface WriteResult {
  readonly written: readonly WrittenObject[];
  /** Records not written: bad input (never retried usefully) or a failed write (retried by SQS). */
  readonly failures: readonly Rejection[];
  /** Records dropped as duplicates of an earlier record in the same batch (same eventId). */
  readonly duplicates: readonly string[];
}

interface Pending {
  readonly messageId: string;
  readonly event: AuditEventT;
}

/** Extracts the audit event from an SQS body: an EventBridge envelope, or a bare event (local harness). */
export function decodeRecord(record: RawRecord): { event: AuditEventT } | { rejection: Rejection } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(record.body);
  } catch {
    return {
      rejection: { messageId: record.messageId, code: 'MALFORMED_JSON', reason: 'message body is not JSON' },
    };
  }
  let candidate: unknown = parsed;
  if (parsed && typeof parsed === 'object' && 'detail-type' in parsed) {
    const eb = parsed as Record<string, unknown>;
    if (eb.source !== AUDIT_EVENT_SOURCE || eb['detail-type'] !== AUDIT_DETAIL_TYPE) {
      return {
        rejection: {
          messageId: record.messageId,
          code: 'NOT_AN_AUDIT_EVENT',
          reason: `EventBridge event is not source=${AUDIT_EVENT_SOURCE} detail-type=${AUDIT_DETAIL_TYPE}`,
        },
      };
    }
    candidate = eb.detail;
  }
  try {
    return { event: parseOrThrow(AuditEvent, candidate, 'audit event') };
  } catch (e) {
    if (e instanceof ValidationError) {
      const id = (candidate as { eventId?: unknown } | null)?.eventId;
      return {
        rejection: {
          messageId: record.messageId,
          code: 'INVALID_EVENT',
          reason: e.message,
          issues: e.issues,
          eventId: typeof id === 'string' ? id.slice(0, 64) : undefined,
        },
      };
    }
    throw e;
  }
}

export interface PreparedChain {
  readonly chain: string;
  readonly messageIds: string[];
  /** Serialized redacted events, sorted by eventId (UUIDv7: time order). */
  readonly lines: string[];
  readonly firstEventTime: string;
  readonly lastEventTime: string;
}

/** The pure part of a batch: decode, validate, de-duplicate, redact, group, sort, serialize. */
export function prepareBatch(
  records: readonly RawRecord[],
  redact: Redactor,
): { chains: PreparedChain[]; rejected: Rejection[]; duplicates: string[] } {
  const rejected: Rejection[] = [];
  const duplicates: string[] = [];
  const seen = new Set<string>();
  const groups = new Map<string, Pending[]>();
  for (const rec of records) {
    const d = decodeRecord(rec);
    if ('rejection' in d) {
      rejected.push(d.rejection);
      continue;
    }
    if (seen.has(d.event.eventId)) {
      // SQS is at-least-once; the same event twice in one batch is stored once.
      duplicates.push(rec.messageId);
      continue;
    }
    seen.add(d.event.eventId);
    const chain = chainOf(d.event);
    let g = groups.get(chain);
    if (!g) {
      g = [];
      groups.set(chain, g);
    }
    g.push({ messageId: rec.messageId, event: redact(d.event) });
  }
  const chains: PreparedChain[] = [];
  for (const [chain, pending] of groups) {
    pending.sort((a, b) => (a.event.eventId < b.event.eventId ? -1 : a.event.eventId > b.event.eventId ? 1 : 0));
    let first = pending[0]!.event.time;
    let last = first;
    for (const p of pending) {
      if (p.event.time < first) first = p.event.time;
      if (p.event.time > last) last = p.event.time;
    }
    chains.push({
      chain,
      messageIds: pending.map((p) => p.messageId),
      lines: pending.map((p) => JSON.stringify(p.event)),
      firstEventTime: first,
      lastEventTime: last,
    });
  }
  return { chains, rejected, duplicates };
}

const MAX_APPEND_ATTEMPTS = 8;

/**
 * Appends one object to a chain. Exactly one writer can create key(seq) (If-None-Match),
 * so two concurrent writers cannot fork the chain: the loser learns the winner's object
 * (its version and hash), moves the head to it and retries at seq + 1.
 */
export async function appendToChain(
  deps: Pick<WriterDeps, 's3' | 'heads' | 'config'>,
  prepared: PreparedChain,
  now: Date,
): Promise<WrittenObject> {
  const { s3, heads, config } = deps;
  const prefix = normalizePrefix(config.prefix);
  for (let attempt = 0; attempt < MAX_APPEND_ATTEMPTS; attempt++) {
    const state = await heads.get(prepared.chain);
    const prev: ChainPointer | null = state.head;
    const seq = (state.head?.seq ?? 0) + 1;
    const key = chainObjectKey(prefix, prepared.chain, seq);
    const { body } = buildChainObject(
      prepared.chain,
      seq,
      prev,
      prepared.lines,
      { first: prepared.firstEventTime, last: prepared.lastEventTime },
      now,
    );
    try {
      const put = await putLocked(s3, {
        bucket: config.bucket,
        key,
        body,
        kmsKeyId: config.kmsKeyId,
        mode: config.lockMode,
        retainUntil: retainUntilFrom(now, config.retentionDays),
      });
      const head: ChainHead = { chain: prepared.chain, seq, key, versionId: put.versionId, sha256: put.sha256 };
      // false only if another writer already moved past us, which keeps the chain intact.
      await heads.advance(head);
      return {
        chain: prepared.chain,
        seq,
        key,
        versionId: put.versionId,
        sha256: put.sha256,
        count: prepared.lines.length,
      };
    } catch (e) {
      if (!(e instanceof ObjectExistsError)) throw e;
      await adoptExisting(deps, prepared.chain, seq, key);
    }
  }
  throw new TransientError(`chain ${prepared.chain}: too much write contention`, { chain: prepared.chain });
}

/** Another writer created key(seq): read it (the head pointer was stale) and move the head to it. */
async function adoptExisting(
  deps: Pick<WriterDeps, 's3' | 'heads' | 'config'>,
  chain: string,
  seq: number,
  key: string,
): Promise<void> {
  const out = await awsCall('s3:GetObject', () =>
    deps.s3.send(new GetObjectCommand({ Bucket: deps.config.bucket, Key: key })),
  );
  const bytes = Buffer.from(await out.Body!.transformToByteArray());
  const nl = bytes.indexOf(10);
  const header = parseChainHeader(bytes.subarray(0, nl < 0 ? bytes.length : nl).toString('utf8'));
  if (!header || header.chain !== chain || header.seq !== seq || !out.VersionId) {
    throw new AidopsError(`chain ${chain}: object at ${key} is not seq ${seq} of this chain`, { chain, key });
  }
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  await deps.heads.advance({ chain, seq, key, versionId: out.VersionId, sha256 });
}

async function redactorFor(deps: WriterDeps): Promise<Redactor> {
  const privacy = deps.config.privacy;
  if (!needsHmacKey(privacy)) return makeRedactor(privacy, null);
  let key = deps.hmacKey;
  if (!key) {
    if (!deps.secrets || !deps.config.hmacSecretId) {
      throw new ValidationError(
        'audit privacy config tokenizes fields: hmacSecretId and a Secrets Manager client are required',
      );
    }
    key = await loadHmacKey(deps.secrets, deps.config.hmacSecretId);
  }
  return makeRedactor(privacy, key);
}

/** The writer core. Never throws for one bad record; throws only if nothing could be attempted (no HMAC key). */
export async function writeBatch(records: readonly RawRecord[], deps: WriterDeps): Promise<WriteResult> {
  const redact = await redactorFor(deps);
  const now = (deps.now ?? (() => new Date()))();
  const { chains, rejected, duplicates } = prepareBatch(records, redact);
  const failures: Rejection[] = [...rejected];
  const written: WrittenObject[] = [];
  const results = await mapLimit(chains, deps.config.chainConcurrency, async (c) => {
    try {
      return { ok: await appendToChain(deps, c, now), chain: c, err: null };
    } catch (e) {
      return { ok: null, err: e as Error, chain: c };
    }
  });
  for (const r of results) {
    if (r.ok) written.push(r.ok);
    else if (r.err) {
      for (const messageId of r.chain.messageIds) {
        failures.push({
          messageId,
          code: 'WRITE_FAILED',
          reason: `${r.err.name}: ${r.err.message}`,
          chain: r.chain.chain,
        });
      }
    }
  }
  for (const f of failures) deps.onReject?.(f);
  return { written, failures, duplicates };
}
