/** The lock check: each version's Object Lock mode and retention against the policy. */
import type { LockMode } from '../retention-guard.ts';
import type { ChainFindings } from './findings.ts';
import type { Scanned } from './scan.ts';

export interface VerifyPolicy {
  /** Minimum retention a version must have from its write time (S3's LastModified). */
  readonly retentionDays: number;
  /** @default 'COMPLIANCE' */
  readonly mode?: LockMode;
  /** Slack for clock skew between writer and S3 (retention, TIME_MISMATCH). @default 300 */
  readonly toleranceSeconds?: number;
}

/**
 * NOT_LOCKED (no retention and no legal hold), LOCK_MODE_WEAK (GOVERNANCE where
 * COMPLIANCE is required), RETENTION_TOO_SHORT (retain-until < written + days,
 * `writtenAt` being S3's LastModified, never a header's claim).
 */
export function checkLock(
  findings: ChainFindings,
  s: Scanned,
  writtenAt: Date,
  position: { seq?: number; digestSeq?: number },
  policy: VerifyPolicy,
): void {
  const where = { key: s.version.key, versionId: s.version.versionId, ...position };
  if (!s.lockMode || !s.retainUntil) {
    if (!s.legalHold)
      findings.add({ code: 'NOT_LOCKED', ...where, message: `${s.version.key} has no Object Lock retention` });
    return;
  }
  if ((policy.mode ?? 'COMPLIANCE') === 'COMPLIANCE' && s.lockMode !== 'COMPLIANCE') {
    findings.add({
      code: 'LOCK_MODE_WEAK',
      ...where,
      expected: 'COMPLIANCE',
      actual: s.lockMode,
      message: `${s.version.key} is locked in ${s.lockMode} mode`,
    });
  }
  const tolMs = (policy.toleranceSeconds ?? 300) * 1000;
  const min = writtenAt.getTime() + policy.retentionDays * 86_400_000 - tolMs;
  if (s.retainUntil.getTime() < min) {
    findings.add({
      code: 'RETENTION_TOO_SHORT',
      ...where,
      expected: `>= ${new Date(min + tolMs).toISOString()}`,
      actual: s.retainUntil.toISOString(),
      message: `${s.version.key} is retained until ${s.retainUntil.toISOString()}, less than ${policy.retentionDays} days`,
    });
  }
}

/**
 * TIME_MISMATCH: the time an object or digest says it was written (`claimed`)
 * against S3's LastModified, which the writer cannot choose. Every time-based check
 * (retention, digest lag, windows) uses S3's time; this makes a header that lies
 * about it visible too.
 */
export function checkTime(
  findings: ChainFindings,
  s: Scanned,
  claimed: string,
  field: string,
  position: { seq?: number; digestSeq?: number },
  policy: VerifyPolicy,
): void {
  const t = Date.parse(claimed);
  const s3Time = s.version.lastModified.getTime();
  const tolMs = (policy.toleranceSeconds ?? 300) * 1000;
  if (Number.isFinite(t) && Math.abs(t - s3Time) <= tolMs) return;
  findings.add({
    code: 'TIME_MISMATCH',
    key: s.version.key,
    versionId: s.version.versionId,
    ...position,
    expected: `${s.version.lastModified.toISOString()} ± ${tolMs / 1000} s (S3 LastModified)`,
    actual: claimed,
    message: `${s.version.key} says ${field} ${claimed}, S3 says it was written at ${s.version.lastModified.toISOString()}`,
  });
}
