/**
 * Every write to the audit bucket goes through here: `putLocked` (write-once
 * objects), `legalHold`, and the guard that refuses to shorten a COMPLIANCE
 * retention or weaken COMPLIANCE to GOVERNANCE.
 *
 * Why a guard when S3 itself refuses? moto (and any emulator) accepts the shortening,
 * so a bug would pass every local test and only fail in AWS — or, worse, silently
 * weaken a GOVERNANCE deployment. The guard fails the same way everywhere and
 * reports the attempt (log + metric through `onViolation`).
 */
import { createHash } from 'node:crypto';
import {
  HeadObjectCommand,
  type ObjectLockMode,
  PutObjectCommand,
  PutObjectLegalHoldCommand,
  PutObjectRetentionCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { awsCall, classifyAwsError, httpStatusOf } from '../shared/aws-errors.ts';
import { AidopsError } from '../shared/errors.ts';

export type LockMode = 'COMPLIANCE' | 'GOVERNANCE';

/** Refused: the requested change would shorten or weaken an Object Lock retention. */
export class RetentionGuardError extends AidopsError {
  override name = 'RetentionGuardError' as const;
}

/** A chain/digest key already exists: another writer won the race (If-None-Match failed). */
export class ObjectExistsError extends AidopsError {
  override name = 'ObjectExistsError' as const;
}

export interface Retention {
  readonly mode: LockMode | undefined;
  readonly retainUntil: Date | undefined;
}

export type ViolationReporter = (violation: { reason: string; details: Record<string, unknown> }) => void;

let defaultReporter: ViolationReporter = (v) => {
  process.stderr.write(`${JSON.stringify({ level: 'ERROR', message: 'retention guard refused', ...v })}\n`);
};

/** Lets a handler route refusals to its logger and metrics. */
export function setViolationReporter(r: ViolationReporter): void {
  defaultReporter = r;
}

function refuse(reason: string, details: Record<string, unknown>, report: ViolationReporter): never {
  report({ reason, details });
  throw new RetentionGuardError(reason, details);
}

/**
 * Throws (and reports) if moving from `current` to `requested` would shorten a
 * COMPLIANCE retention, turn COMPLIANCE into GOVERNANCE or remove it. Extending is fine.
 */
export function assertRetentionChangeAllowed(
  current: Retention,
  requested: Retention,
  context: Record<string, unknown> = {},
  report: ViolationReporter = defaultReporter,
): void {
  if (current.mode !== 'COMPLIANCE') return;
  const details = {
    ...context,
    currentMode: current.mode,
    currentRetainUntil: current.retainUntil?.toISOString(),
    requestedMode: requested.mode ?? null,
    requestedRetainUntil: requested.retainUntil?.toISOString() ?? null,
  };
  if (requested.mode !== 'COMPLIANCE') refuse('COMPLIANCE retention cannot be removed or weakened', details, report);
  if (!requested.retainUntil) refuse('COMPLIANCE retention needs a retain-until date', details, report);
  if (current.retainUntil && requested.retainUntil.getTime() < current.retainUntil.getTime()) {
    refuse('COMPLIANCE retention cannot be shortened', details, report);
  }
}

/** Refuses to lower a bucket's default COMPLIANCE retention (new objects would be kept less long than policy). */
export function assertDefaultRetentionChangeAllowed(
  current: { mode?: LockMode; days?: number },
  requested: { mode?: LockMode; days?: number },
  context: Record<string, unknown> = {},
  report: ViolationReporter = defaultReporter,
): void {
  if (current.mode !== 'COMPLIANCE') return;
  const details = { ...context, current, requested };
  if (requested.mode !== 'COMPLIANCE') refuse('default COMPLIANCE retention cannot be weakened', details, report);
  if ((requested.days ?? 0) < (current.days ?? 0)) {
    refuse('default COMPLIANCE retention cannot be shortened', details, report);
  }
}

/** The only path to PutObjectRetention in this code base: reads the current lock first and applies the guard. */
export async function putRetentionGuarded(
  s3: S3Client,
  target: { bucket: string; key: string; versionId: string },
  requested: { mode: LockMode; retainUntil: Date },
  report: ViolationReporter = defaultReporter,
): Promise<void> {
  const head = await awsCall('s3:HeadObject', () =>
    s3.send(new HeadObjectCommand({ Bucket: target.bucket, Key: target.key, VersionId: target.versionId })),
  );
  assertRetentionChangeAllowed(
    { mode: head.ObjectLockMode as LockMode | undefined, retainUntil: head.ObjectLockRetainUntilDate },
    requested,
    target,
    report,
  );
  await awsCall('s3:PutObjectRetention', () =>
    s3.send(
      new PutObjectRetentionCommand({
        Bucket: target.bucket,
        Key: target.key,
        VersionId: target.versionId,
        Retention: { Mode: requested.mode as ObjectLockMode, RetainUntilDate: requested.retainUntil },
      }),
    ),
  );
}

/** Places (or releases) a legal hold on one version; a hold has no end date and survives retention expiry. */
export async function legalHold(
  s3: S3Client,
  bucket: string,
  key: string,
  versionId: string,
  on = true,
): Promise<void> {
  await awsCall('s3:PutObjectLegalHold', () =>
    s3.send(
      new PutObjectLegalHoldCommand({
        Bucket: bucket,
        Key: key,
        VersionId: versionId,
        LegalHold: { Status: on ? 'ON' : 'OFF' },
      }),
    ),
  );
}

export interface PutLockedInput {
  readonly bucket: string;
  readonly key: string;
  readonly body: Uint8Array;
  /** SSE-KMS key (id, ARN or alias). */
  readonly kmsKeyId: string;
  readonly retainUntil: Date;
  /** @default 'COMPLIANCE' (GOVERNANCE only for tamper tests: it can be bypassed) */
  readonly mode?: LockMode;
  /** @default 'application/x-ndjson' */
  readonly contentType?: string;
  /** Also place a legal hold. @default false */
  readonly legalHold?: boolean;
  /** Create only: fail with ObjectExistsError if the key exists. @default true */
  readonly createOnly?: boolean;
  readonly metadata?: Record<string, string>;
}

export interface PutLockedResult {
  readonly key: string;
  readonly versionId: string;
  /** Hex SHA-256 of the body. */
  readonly sha256: string;
}

/**
 * Writes one write-once object: SSE-KMS, a SHA-256 checksum S3 verifies on receipt
 * (x-amz-checksum-sha256), Object Lock mode + retain-until, and If-None-Match: *
 * so an existing key is never given a second version by us.
 */
export async function putLocked(s3: S3Client, input: PutLockedInput): Promise<PutLockedResult> {
  const digest = createHash('sha256').update(input.body).digest();
  try {
    const out = await s3.send(
      new PutObjectCommand({
        Bucket: input.bucket,
        Key: input.key,
        Body: input.body,
        ContentType: input.contentType ?? 'application/x-ndjson',
        ServerSideEncryption: 'aws:kms',
        SSEKMSKeyId: input.kmsKeyId,
        ChecksumAlgorithm: 'SHA256',
        ChecksumSHA256: digest.toString('base64'),
        ObjectLockMode: input.mode ?? 'COMPLIANCE',
        ObjectLockRetainUntilDate: input.retainUntil,
        ObjectLockLegalHoldStatus: input.legalHold ? 'ON' : undefined,
        IfNoneMatch: input.createOnly === false ? undefined : '*',
        Metadata: input.metadata,
      }),
    );
    if (!out.VersionId) {
      // Without a version id nothing can pin this object; the bucket is not versioned (not an audit bucket).
      throw new AidopsError('audit bucket returned no VersionId: versioning/Object Lock is not enabled', {
        bucket: input.bucket,
      });
    }
    return { key: input.key, versionId: out.VersionId, sha256: digest.toString('hex') };
  } catch (e) {
    if (httpStatusOf(e) === 412 || (e as Error).name === 'PreconditionFailed') {
      throw new ObjectExistsError(`audit object already exists: ${input.key}`, { key: input.key }, { cause: e });
    }
    throw classifyAwsError(e, 's3:PutObject');
  }
}

/** now + days, as Object Lock wants it. */
export function retainUntilFrom(now: Date, days: number): Date {
  return new Date(now.getTime() + days * 86_400_000);
}
