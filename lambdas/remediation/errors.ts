/** The remediation workflows' own errors; each `name` is what a Step Functions Retry/Catch matches. */
import { AidopsError } from '../shared/errors.ts';

/** Error name of {@link IsolationIncompleteError}; the tombstone workflow retries it (re-reading the interfaces). */
export const ISOLATION_INCOMPLETE = 'IsolationIncompleteError' as const;

/**
 * The quarantine group does not hold on every interface after isolation. Not a
 * TransientError subclass (that class's literal name would hide this one): the
 * workflow names it beside TransientError in the isolation Catch and Retry.
 */
export class IsolationIncompleteError extends AidopsError {
  override name = ISOLATION_INCOMPLETE;
}

/** A restore was rejected by the approver (the SendTaskFailure error name the CLI uses). */
export const APPROVAL_REJECTED = 'ApprovalRejected' as const;

/** The snapshot to restore from does not exist, is not the session's, or is not complete. */
export class SnapshotNotUsableError extends AidopsError {
  override name = 'SnapshotNotUsableError' as const;
}

/** The evidence packet named by the instance tags cannot be read (restore needs it). */
export class EvidencePacketError extends AidopsError {
  override name = 'EvidencePacketError' as const;
}

/** Some part of the credential revocation failed (the others were done); the tombstone goes on and pages. */
export class RevocationIncompleteError extends AidopsError {
  override name = 'RevocationIncompleteError' as const;
}

/** The role's revocation policy would pass IAM's inline policy size limit: nothing was written. */
export class RevocationCapacityError extends AidopsError {
  override name = 'RevocationCapacityError' as const;
}

/** Error name of {@link AuditTrailBehindError}; the tombstone retries it for a bounded time, then goes on. */
export const AUDIT_TRAIL_BEHIND = 'AuditTrailBehindError' as const;

/** The audit pipeline has not yet written the session's events from before the incident. */
export class AuditTrailBehindError extends AidopsError {
  override name = AUDIT_TRAIL_BEHIND;
}
