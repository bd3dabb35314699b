/**
 * Errors of the plugin admission capability. Every rejection of a plugin carries a
 * stable `reason` code so the workflow, the CLI and the audit trail agree on why.
 */
import { AidopsError, type ErrorDetails, ReasonCodedError } from '../shared/errors.ts';

/** Stable reason codes; documented in docs/plugins.md. Never rename one: audit events keep them. */
const ReasonCodes = [
  // bundle shape
  'MALFORMED_BUNDLE',
  'UNSUPPORTED_MEDIA_TYPE',
  'ARTIFACT_REQUIRED',
  // cryptography and transparency
  'SIGNATURE_INVALID',
  'DIGEST_MISMATCH',
  'CERT_CHAIN_INVALID',
  'SCT_INVALID',
  'KEY_NOT_TRUSTED',
  'KEY_INVALID',
  'TLOG_INCLUSION_INVALID',
  'TLOG_INCLUSION_MISSING',
  'TLOG_SET_INVALID',
  'TLOG_ENTRY_MISMATCH',
  'TLOG_INVALID',
  'TIMESTAMP_INVALID',
  'TIMESTAMP_MISSING',
  'TIMESTAMP_OUTSIDE_VALIDITY',
  'TRUSTED_ROOT_INVALID',
  // signer identity
  'IDENTITY_MISMATCH',
  'ISSUER_MISMATCH',
  'SIGNER_NOT_ALLOWED',
  // attestation content
  'UNSUPPORTED_PAYLOAD_TYPE',
  'STATEMENT_INVALID',
  'PROVENANCE_MISSING',
  'PROVENANCE_INVALID',
  'PROVENANCE_MISMATCH',
  'PREDICATE_TYPE_NOT_ALLOWED',
  'PROVENANCE_REPO_NOT_ALLOWED',
  'PROVENANCE_REF_NOT_ALLOWED',
  'BUILDER_NOT_ALLOWED',
  'SLSA_LEVEL_TOO_LOW',
  // registry
  'PUBLISHER_REVOKED',
  'VERSION_REVOKED',
] as const;

export type ReasonCode = (typeof ReasonCodes)[number];

/** A plugin (or its bundle, or the trust material) was refused. Never retried. */
export class PluginVerificationError extends ReasonCodedError<ReasonCode> {
  override name = 'PluginVerificationError' as const;
  /** The message starts with the code: `DIGEST_MISMATCH: artifact digest differs …`. */
  constructor(reason: ReasonCode, message: string, details: ErrorDetails = {}, options?: ErrorOptions) {
    super(reason, `${reason}: ${message}`, details, options);
  }
}

/** The cached trusted root is older than the configured maximum age; refresh it first. */
export class TrustedRootStaleError extends AidopsError {
  override name = 'TrustedRootStaleError' as const;
}

/** Throws the PluginVerificationError for `reason`: the one way a check refuses a plugin. */
export function refuse(reason: ReasonCode, message: string, details: Record<string, unknown> = {}): never {
  throw new PluginVerificationError(reason, message, details);
}
