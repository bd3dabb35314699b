/**
 * Every failure of `@sigstore/verify` (its VerificationError codes, or a crash on
 * hostile bytes) mapped to one stable reason code.
 */
import type { SerializedBundle } from '@sigstore/bundle';
import { type SignedEntity, VerificationError } from '@sigstore/verify';
import { PluginVerificationError, refuse } from '../errors.ts';
import { type ArtifactInput, messageDigestMatches } from './artifact.ts';
import { timeOutsideLeaf } from './signed-entity.ts';

/** Rethrows what the library threw while verifying `bundle` as a PluginVerificationError with its reason. */
export function mapLibraryError(
  e: unknown,
  entity: SignedEntity | undefined,
  bundle: SerializedBundle,
  artifact?: ArtifactInput,
): never {
  if (e instanceof PluginVerificationError) throw e;
  if (e instanceof VerificationError) {
    const msg = e.message;
    const d = { libraryCode: e.code, libraryMessage: msg };
    switch (e.code) {
      case 'CERTIFICATE_ERROR':
        if (/SCT/i.test(msg)) refuse('SCT_INVALID', msg, d);
        if (entity && safe(() => timeOutsideLeaf(entity)))
          refuse('TIMESTAMP_OUTSIDE_VALIDITY', 'signing time is outside the certificate validity', d);
        return refuse('CERT_CHAIN_INVALID', msg, d);
      case 'PUBLIC_KEY_ERROR':
        if (/not valid for timestamp/.test(msg)) refuse('TIMESTAMP_OUTSIDE_VALIDITY', msg, d);
        return refuse('KEY_NOT_TRUSTED', msg, d);
      case 'SIGNATURE_ERROR':
        if (bundle.messageSignature && artifact?.bytes && !messageDigestMatches(bundle, artifact.bytes))
          refuse('DIGEST_MISMATCH', 'artifact digest differs from the signed digest', d);
        return refuse('SIGNATURE_INVALID', msg, d);
      case 'TLOG_INCLUSION_PROOF_ERROR':
        return refuse('TLOG_INCLUSION_INVALID', msg, d);
      case 'TLOG_MISSING_INCLUSION_ERROR':
        return refuse('TLOG_INCLUSION_MISSING', msg, d);
      case 'TLOG_INCLUSION_PROMISE_ERROR':
        return refuse('TLOG_SET_INVALID', msg, d);
      case 'TLOG_BODY_ERROR':
        return refuse('TLOG_ENTRY_MISMATCH', msg, d);
      case 'TIMESTAMP_ERROR':
        if (/expected \d+ timestamps/.test(msg)) refuse('TIMESTAMP_MISSING', msg, d);
        return refuse('TIMESTAMP_INVALID', msg, d);
      default:
        return refuse('TLOG_INVALID', msg, d);
    }
  }
  // A TypeError, RangeError or ASN.1 error from the library means bytes it did not expect.
  return refuse('MALFORMED_BUNDLE', `bundle could not be processed: ${(e as Error)?.message ?? String(e)}`, {
    libraryError: (e as Error)?.name,
  });
}

function safe(f: () => boolean): boolean {
  try {
    return f();
  } catch {
    return false;
  }
}
