/**
 * Stable reason codes for every attestation rejection, and the one error class
 * the verifiers throw.
 *
 * Reason codes are an API: workflows, audit events, dashboards and the CLI's
 * `--json` output match on them, so codes are only ever added, never renamed.
 */
import { ReasonCodedError } from '../shared/errors.ts';

export const REASONS = {
  MALFORMED: 'The evidence is not a well-formed document of the expected type.',
  UNSUPPORTED: 'The evidence uses an algorithm, version or format this verifier does not accept.',
  WRONG_EVIDENCE_TYPE: 'The evidence is valid but of another kind than the one requested.',
  SIGNATURE_INVALID: 'The signature over the evidence does not verify with the signing certificate.',
  CHAIN_UNTRUSTED: 'The certificate chain does not lead to a pinned root (or a link does not verify).',
  CERT_EXPIRED: 'A certificate in the chain had expired at the verification time.',
  CERT_NOT_YET_VALID: 'A certificate in the chain was not yet valid at the verification time.',
  WRONG_SIGNER_KIND:
    'The report names one signing key kind (VCEK or VLEK) but another kind of certificate was supplied.',
  CHIP_ID_MISMATCH: "The VCEK's hardware ID does not match the report's chip_id.",
  TCB_MISMATCH: "The signing certificate's TCB extensions do not equal the report's reported_tcb.",
  TCB_BELOW_FLOOR: 'A TCB component is below the minimum the policy requires.',
  DEBUG_NOT_ALLOWED: 'The workload runs in debug mode, which the policy does not allow.',
  MIGRATION_AGENT_NOT_ALLOWED: 'The guest policy allows a migration agent, which the policy does not allow.',
  VMPL_MISMATCH: 'The report was produced at a VMPL the policy does not allow.',
  PCR_MISMATCH: 'The PCR values do not match any image the policy allows.',
  MEASUREMENT_MISMATCH: 'The launch measurement does not match any the policy allows.',
  NONCE_MISMATCH:
    'The nonce (or report_data binding) is not the one the control plane issued, or it is unknown or expired.',
  NONCE_REUSED: 'The nonce has already been used: this evidence is a replay.',
  INSTANCE_MISMATCH:
    "The document was made on another instance than the session's (module_id names its parent instance), or names none.",
  TOO_OLD: 'The evidence is older than the policy allows.',
  TIMESTAMP_IN_FUTURE: 'The evidence is dated after the verification time.',
  UNSUPPORTED_PUBLIC_KEY: 'The attested public key is absent or of a kind secrets cannot be encrypted to.',
  SECRETS_UNAVAILABLE: "The session's secrets could not be read.",
  CERTS_UNAVAILABLE:
    'The evidence came without its signing certificate (VCEK or VLEK) and none could be obtained from the AMD certificate cache or AMD KDS.',
} as const;

export type ReasonCode = keyof typeof REASONS;

/** The only error the verifiers throw on purpose; `reason` (and `details.reason`) is the stable code. */
export class AttestationError extends ReasonCodedError<ReasonCode> {
  override name = 'AttestationError' as const;
  constructor(reason: ReasonCode, detail?: string, details: Record<string, unknown> = {}) {
    super(reason, detail ? `${REASONS[reason]} ${detail}` : REASONS[reason], details);
  }
}

export function reject(reason: ReasonCode, detail?: string, details?: Record<string, unknown>): never {
  throw new AttestationError(reason, detail, details);
}
