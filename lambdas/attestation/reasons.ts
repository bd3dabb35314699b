/**
 * Stable reason codes for every attestation rejection, the one error class the
 * verifiers throw, and the policy file schema.
 *
 * Reason codes are an API: workflows, audit events, dashboards and the CLI's
 * `--json` output match on them, so codes are only ever added, never renamed.
 */
import * as z from 'zod';
import { AidopsError } from '../shared/errors.ts';

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
  TOO_OLD: 'The evidence is older than the policy allows.',
  TIMESTAMP_IN_FUTURE: 'The evidence is dated after the verification time.',
  UNSUPPORTED_PUBLIC_KEY: 'The attested public key is absent or of a kind secrets cannot be encrypted to.',
  SECRETS_UNAVAILABLE: "The session's secrets could not be read.",
  CERTS_UNAVAILABLE:
    'The evidence came without its signing certificate (VCEK or VLEK) and none could be obtained from the AMD certificate cache or AMD KDS.',
} as const;

export type ReasonCode = keyof typeof REASONS;
export const REASON_CODES = Object.keys(REASONS) as ReasonCode[];

/** The only error the verifiers throw on purpose; `reason` is the stable code. */
export class AttestationError extends AidopsError {
  override name = 'AttestationError' as const;
  readonly reason: ReasonCode;
  constructor(reason: ReasonCode, detail?: string, details: Record<string, unknown> = {}) {
    super(detail ? `${REASONS[reason]} ${detail}` : REASONS[reason], { ...details, reason });
    this.reason = reason;
  }
}

export function reject(reason: ReasonCode, detail?: string, details?: Record<string, unknown>): never {
  throw new AttestationError(reason, detail, details);
}

const hexOf = (bytes: number) =>
  z
    .string()
    .regex(new RegExp(`^[0-9a-fA-F]{${bytes * 2}}$`), `must be ${bytes} bytes of hex`)
    .transform((s) => s.toLowerCase());

/** One allowed image: every PCR it names must equal the document's value. */
const PcrImage = z.strictObject({
  name: z.string().optional(),
  pcrs: z
    .record(z.string().regex(/^([0-9]|[12][0-9]|3[01])$/, 'PCR index 0-31'), hexOf(48))
    .refine((r) => Object.keys(r).length > 0, 'an image must name at least one PCR'),
});

const Tcb = z.strictObject({
  bootloader: z.number().int().min(0).max(255).optional(),
  tee: z.number().int().min(0).max(255).optional(),
  snp: z.number().int().min(0).max(255).optional(),
  microcode: z.number().int().min(0).max(255).optional(),
  /** Turin only. */
  fmc: z.number().int().min(0).max(255).optional(),
});

/**
 * The policy file. Absent fields impose nothing beyond the default policy
 * (structure, signature, chain, time, and no debug).
 */
export const AttestationPolicySchema = z.strictObject({
  /** Nitro Enclave images allowed (e.g. PCR0, PCR1, PCR2, PCR8). Empty/absent = any. */
  enclaveImages: z.array(PcrImage).optional(),
  /** NitroTPM images allowed (usually PCR4 boot chain, PCR7 Secure Boot, PCR12 UKI/cmdline). */
  tpmImages: z.array(PcrImage).optional(),
  /** SEV-SNP launch measurements allowed (48-byte hex). */
  measurements: z.array(hexOf(48)).optional(),
  /** Accept debug enclaves (PCR0-2 all zero) and SNP guests with the DEBUG policy bit. @default false */
  allowDebug: z.boolean().default(false),
  /** Accept SNP guests whose policy allows a migration agent. @default false */
  allowMigrationAgent: z.boolean().default(false),
  /** Minimum SNP reported_tcb per component. */
  tcbFloor: Tcb.optional(),
  /** SNP VMPLs allowed, e.g. [0]. Absent = any. */
  vmpls: z.array(z.number().int().min(0).max(3)).optional(),
  /** Maximum age of a Nitro document (now − timestamp). Absent = no bound. */
  maxAgeSeconds: z.number().int().positive().optional(),
  /** Tolerated clock skew for documents dated after `now` (only with maxAgeSeconds). @default 60 */
  clockSkewSeconds: z.number().int().min(0).max(3600).default(60),
});

export type AttestationPolicy = z.output<typeof AttestationPolicySchema>;
export type AttestationPolicyInput = z.input<typeof AttestationPolicySchema>;

export const DEFAULT_POLICY: AttestationPolicy = AttestationPolicySchema.parse({});
