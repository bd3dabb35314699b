/**
 * The attestation policy file: what evidence is accepted beyond the default
 * policy (structure, signature, chain, time, and no debug).
 */
import * as z from 'zod';

const hexOf = (bytes: number) =>
  z
    .string()
    .regex(new RegExp(`^[0-9a-fA-F]{${bytes * 2}}$`), `must be ${bytes} bytes of hex`)
    .transform((s) => s.toLowerCase());

const PCR_INDEX = /^([0-9]|[12][0-9]|3[01])$/;

/** One allowed image: every PCR it names must equal the document's value. */
const PcrImage = z.strictObject({
  name: z.string().optional(),
  pcrs: z.record(z.string(), hexOf(48)).superRefine((r, ctx) => {
    const keys = Object.keys(r);
    if (keys.length === 0) ctx.addIssue({ code: 'custom', message: 'an image must name at least one PCR' });
    // Named here (not as a record key schema) so the message says what is wrong and with which key.
    for (const k of keys)
      if (!PCR_INDEX.test(k))
        ctx.addIssue({ code: 'custom', path: [k], message: `PCR index 0-31 (got "${k.slice(0, 20)}")` });
  }),
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
