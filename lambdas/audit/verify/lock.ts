/** The lock check: each version's Object Lock mode and retention against the policy. */
import type { LockMode } from '../retention-guard.ts';
import type { ChainFindings } from './findings.ts';
import type { Scanned } from './scan.ts';

export interface VerifyPolicy {
  /** Minimum retention a version must have from its write time. */
  readonly retentionDays: number;
  /** @default 'COMPLIANCE' */
  readonly mode?: LockMode;
  /** Slack for clock skew between writer and S3. @default 300 */
  readonly toleranceSeconds?: number;
}

/**
 * NOT_LOCKED (no retention and no legal hold), LOCK_MODE_WEAK (GOVERNANCE where
 * COMPLIANCE is required), RETENTION_TOO_SHORT (retain-until < written + days).
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
