/**
 * Writer core: a batch of SQS records (each an EventBridge event whose detail is
 * an audit event) → validated, redacted, grouped by chain, and ONE write-once
 * object per chain per batch. Bad records are returned with their reason (the
 * handler reports them as partial batch failures; after maxReceiveCount SQS moves
 * them to the DLQ); the rest of the batch is written.
 */
import { createHash, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import * as z from 'zod';
import { awsCall, httpStatusOf } from '../shared/aws-errors.ts';
import { mapLimit } from '../shared/concurrency.ts';
import { AidopsError, TransientError, ValidationError } from '../shared/errors.ts';
import { parseOrThrow } from '../shared/validation.ts';
import { buildChainObject, chainObjectKey, normalizePrefix } from './chain.ts';
import { type ChainClaim, type ChainHead, type ChainState, type HeadStore, nextSeq } from './heads.ts';
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
  /** After this long a writer's claim on a chain counts as abandoned (its invocation died). @default 120 (2x the writer timeout) */
  claimLeaseSeconds: z.number().int().min(1).max(3600).default(120),
  /** Squatted keys one append may skip before it gives up (and the batch is retried). @default 32 */
  maxSkipsPerObject: z.number().int().min(1).max(1000).default(32),
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
  /** Called once per squatted key the chain skipped (alarm on it). */
  readonly onIncident?: (i: ChainIncident) => void;
  /** Clock for claim leases (ms). @default Date.now */
  readonly clock?: () => number;
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
  /** Keys the chains had to skip because someone else had put an object there. */
  readonly incidents: readonly ChainIncident[];
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

/** Rounds of the append loop (claims lost to other writers, waits on their claims) before a TransientError. */
const MAX_APPEND_ROUNDS = 16;
/** Longest wait between rounds while another writer holds the chain's claim. */
const MAX_WAIT_MS = 1000;

/** A key at a chain's next position held an object this writer did not write (or claim): the chain skipped it. */
export interface ChainIncident {
  readonly chain: string;
  readonly seq: number;
  readonly key: string;
  /** The SHA-256 the writer had claimed for the key. */
  readonly expectedSha256: string;
  /** What S3 holds there: the version, and its SHA-256 when S3 has a full-object checksum for it. */
  readonly foundVersionId?: string;
  readonly foundSha256?: string;
}

/** A chain could not be appended to: more squatted keys in a row than one append may skip. */
export class ChainSquattedError extends AidopsError {
  override name = 'ChainSquattedError' as const;
}

type AppendDeps = Pick<WriterDeps, 's3' | 'heads' | 'config' | 'clock' | 'onIncident'>;

/** The current version of `key` and S3's SHA-256 of it; null when there is no such key. */
async function inspectKey(deps: AppendDeps, key: string): Promise<{ versionId?: string; sha256?: string } | null> {
  try {
    const out = await awsCall('s3:HeadObject', () =>
      deps.s3.send(new HeadObjectCommand({ Bucket: deps.config.bucket, Key: key, ChecksumMode: 'ENABLED' })),
    );
    // A composite (multipart) checksum ends in -N and is not a hash of the bytes: treat it as unknown.
    const b64 = out.ChecksumSHA256 && !out.ChecksumSHA256.includes('-') ? out.ChecksumSHA256 : undefined;
    return { versionId: out.VersionId, sha256: b64 ? Buffer.from(b64, 'base64').toString('hex') : undefined };
  } catch (e) {
    if (httpStatusOf(e) === 404 || (e as Error).name === 'NotFound' || (e as Error).name === 'NoSuchKey') return null;
    throw e;
  }
}

/**
 * A claim on `state` whose writer died (older than the lease): its object is the
 * chain's if S3 holds exactly the claimed bytes at the claimed key; a key that is
 * empty was never written; anything else there was put by someone else.
 */
async function settleStaleClaim(deps: AppendDeps, state: ChainState, claim: ChainClaim): Promise<void> {
  const found = await inspectKey(deps, claim.key);
  if (!found) {
    await deps.heads.release(state.chain, state.rev);
  } else if (found.sha256 === claim.sha256 && found.versionId) {
    await deps.heads.commit(state.chain, state.rev, {
      chain: state.chain,
      seq: claim.seq,
      key: claim.key,
      versionId: found.versionId,
      sha256: claim.sha256,
    });
  } else if (await deps.heads.skip(state.chain, state.rev, claim.key)) {
    deps.onIncident?.({
      chain: state.chain,
      seq: claim.seq,
      key: claim.key,
      expectedSha256: claim.sha256,
      foundVersionId: found.versionId,
      foundSha256: found.sha256,
    });
  }
}

/**
 * Appends one object to a chain. The head in DynamoDB is the only source of truth:
 * the writer claims the next seq there, with the SHA-256 of the exact bytes it will
 * write, before it creates the key (If-None-Match: *), then moves the head to it.
 * Concurrent writers serialize on the claim (one waits while another writes). A key
 * that already holds something when its claim holder tries it was put by someone
 * else: the chain skips it (the next object names it in `skippedKeys`), reports a
 * ChainIncident, and goes on, so a squatted key cannot stop the chain.
 */
export async function appendToChain(deps: AppendDeps, prepared: PreparedChain, now: Date): Promise<WrittenObject> {
  const { s3, heads, config } = deps;
  const clock = deps.clock ?? Date.now;
  const prefix = normalizePrefix(config.prefix);
  const owner = randomUUID();
  const leaseMs = config.claimLeaseSeconds * 1000;
  let skips = 0;
  let wait = 20;
  for (let round = 0; round < MAX_APPEND_ROUNDS; ) {
    const state = await heads.get(prepared.chain);
    if (state.claim) {
      if (clock() - state.claim.at >= leaseMs) await settleStaleClaim(deps, state, state.claim);
      else {
        // Another writer is between its claim and its commit: a PUT and an update away.
        await sleep(wait + Math.floor(Math.random() * wait));
        wait = Math.min(MAX_WAIT_MS, wait * 2);
      }
      round++;
      continue;
    }
    const seq = nextSeq(state);
    const key = chainObjectKey(prefix, prepared.chain, seq);
    const { body } = buildChainObject(
      prepared.chain,
      seq,
      state.head,
      prepared.lines,
      { first: prepared.firstEventTime, last: prepared.lastEventTime },
      now,
      state.skipped,
    );
    const sha256 = createHash('sha256').update(body).digest('hex');
    const rev = await heads.claim(prepared.chain, state.rev, { seq, key, sha256, owner, at: clock() });
    if (rev === null) {
      round++;
      continue;
    }
    let versionId: string;
    try {
      versionId = (
        await putLocked(s3, {
          bucket: config.bucket,
          key,
          body,
          kmsKeyId: config.kmsKeyId,
          mode: config.lockMode,
          retainUntil: retainUntilFrom(now, config.retentionDays),
        })
      ).versionId;
    } catch (e) {
      if (!(e instanceof ObjectExistsError)) {
        // The PUT may or may not have landed: settle the claim now rather than block the chain for a lease.
        await settleStaleClaim(deps, { ...state, rev }, { seq, key, sha256, owner, at: 0 }).catch(() => undefined);
        throw e;
      }
      // Only the claim holder creates this key, so whatever is there is not the chain's.
      const found = await inspectKey(deps, key);
      if (await heads.skip(prepared.chain, rev, key)) {
        deps.onIncident?.({
          chain: prepared.chain,
          seq,
          key,
          expectedSha256: sha256,
          foundVersionId: found?.versionId,
          foundSha256: found?.sha256,
        });
      }
      if (++skips > config.maxSkipsPerObject) {
        throw new ChainSquattedError(`chain ${prepared.chain}: more than ${config.maxSkipsPerObject} squatted keys`, {
          chain: prepared.chain,
          key,
        });
      }
      continue;
    }
    const head: ChainHead = { chain: prepared.chain, seq, key, versionId, sha256 };
    if (!(await heads.commit(prepared.chain, rev, head))) {
      // Our claim outlived its lease and another writer settled it: fine if it settled on our object.
      const after = await heads.get(prepared.chain);
      if (after.head?.key !== key || after.head.versionId !== versionId) {
        throw new TransientError(`chain ${prepared.chain}: lost the claim on ${key}`, { chain: prepared.chain, key });
      }
    }
    return { chain: prepared.chain, seq, key, versionId, sha256, count: prepared.lines.length };
  }
  throw new TransientError(`chain ${prepared.chain}: too much write contention`, { chain: prepared.chain });
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
  const incidents: ChainIncident[] = [];
  const appendDeps: AppendDeps = {
    ...deps,
    onIncident: (i) => {
      incidents.push(i);
      deps.onIncident?.(i);
    },
  };
  const results = await mapLimit(chains, deps.config.chainConcurrency, async (c) => {
    try {
      return { ok: await appendToChain(appendDeps, c, now), chain: c, err: null };
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
  return { written, failures, duplicates, incidents };
}
