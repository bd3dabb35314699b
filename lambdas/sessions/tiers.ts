/**
 * Risk tiers → isolation profiles, as typed configuration checked at synth.
 *
 * A tier is what the business classifies (low: summarising documents without
 * secrets; medium: writing with internal data; high: financial operations,
 * personal data). A profile is how a session of that tier is isolated: an AMD
 * SEV-SNP confidential VM, a Nitro Enclave parent, or a hardened standard
 * instance, with its images, instance types, longest TTL, egress allowlist,
 * the secrets a session may receive, and whether memory evidence may be taken.
 *
 * Context override (`-c aidops:sessions='{"profiles":{"hardened":{"maxTtlSeconds":7200}}}'`)
 * is deep-merged over the defaults (objects merge, arrays replace), then the
 * whole result is checked; a profile that asks for SEV-SNP on an instance
 * family that cannot run it stops the synth with the field that is wrong.
 *
 * It lives beside the session functions because they use it at run time (tiers,
 * capabilities, TTL parsing); the constructs in lib/ import it for the synth checks.
 */
import * as z from 'zod';
import { type AttestationPolicy, AttestationPolicySchema } from '../attestation/policy.ts';
import { names } from '../shared/names.ts';
import { parseOrThrow } from '../shared/validation.ts';

export const TIERS = ['low', 'medium', 'high'] as const;
export type Tier = (typeof TIERS)[number];
/** Tier order: a request may ask for stronger isolation than its use case needs, never weaker. */
export const TIER_RANK: Readonly<Record<Tier, number>> = { low: 0, medium: 1, high: 2 };

export const ISOLATIONS = ['sev-snp', 'nitro-enclave', 'standard'] as const;
export type Isolation = (typeof ISOLATIONS)[number];

/**
 * Instance families AWS documents for AMD SEV-SNP ("supported with M6a, R6a and
 * C6a instance types only", EC2 API CpuOptionsRequest.AmdSevSnp, checked 2026).
 */
export const SEV_SNP_FAMILIES = ['m6a', 'c6a', 'r6a'] as const;

/** Evidence each isolation kind can produce (the attestation step verifies it). */
export const EVIDENCE_FOR: Readonly<Record<Isolation, readonly ('sev-snp' | 'nitro-enclave' | 'nitrotpm')[]>> = {
  'sev-snp': ['sev-snp'],
  'nitro-enclave': ['nitro-enclave'],
  standard: ['nitrotpm'],
};

/** Capabilities a fleet flag can switch off (per cohort); see lambdas/sessions/flags.ts. */
export const CAPABILITIES = [
  'new-sessions',
  'tier-low',
  'tier-medium',
  'tier-high',
  'file-write',
  'plugin-execution',
  'network-egress',
  'memory-evidence',
] as const;
export type Capability = (typeof CAPABILITIES)[number];

const Name = z.string().regex(/^[a-z][a-z0-9-]{1,40}$/, 'lowercase letters, digits and "-" (2-41)');
const InstanceType = z.string().regex(/^[a-z][a-z0-9-]*\.[a-z0-9]+$/, 'an EC2 instance type such as m6a.large');
/** An AMI id, or an SSM parameter that names one (resolved at launch, as EC2 launch templates do). */
const ImageRef = z
  .string()
  .regex(/^(ami-[0-9a-f]{8,17}|resolve:ssm:\/[A-Za-z0-9_./-]{1,1000})$/, 'ami-<hex> or resolve:ssm:/<parameter>');
const SecretName = z.string().regex(/^[A-Za-z0-9/_+=.@-]{1,512}$/, 'a Secrets Manager secret name');
const Cidr = z
  .string()
  .regex(/^(\d{1,3}\.){3}\d{1,3}\/\d{1,2}$/, 'an IPv4 CIDR such as 10.0.0.0/8')
  .refine((c) => c !== '0.0.0.0/0', 'an allowlist entry must not be the whole internet');

export const EgressRule = z.strictObject({
  cidr: Cidr,
  port: z.number().int().min(1).max(65_535),
  protocol: z.enum(['tcp', 'udp']).default('tcp'),
  description: z.string().min(1).max(200),
});
export type EgressRule = z.output<typeof EgressRule>;

export const Profile = z.strictObject({
  isolation: z.enum(ISOLATIONS),
  evidenceType: z.enum(['sev-snp', 'nitro-enclave', 'nitrotpm']),
  description: z.string().max(300).default(''),
  /** Allowed images: AMI ids or `resolve:ssm:/param`. A request may pick one; the first is the default. */
  images: z.array(ImageRef).min(1).max(20),
  /** Allowed instance types; the first is the default. */
  instanceTypes: z.array(InstanceType).min(1).max(20),
  maxTtlSeconds: z
    .number()
    .int()
    .min(60)
    .max(7 * 86_400),
  /** Egress besides the VPC interface endpoints (always reachable on 443): deny everything else. */
  egress: z.array(EgressRule).max(50).default([]),
  /** Domains the optional Route 53 Resolver DNS Firewall lets this profile's sessions resolve. */
  domains: z
    .array(z.string().regex(/^(\*\.)?[a-z0-9.-]+\.?$/))
    .max(100)
    .default([]),
  /** Secrets Manager names a session of this profile may receive (sealed to its attested key). */
  secrets: z.array(SecretName).max(20).default([]),
  /** Whether incident response may capture this session's memory. */
  memoryEvidence: z.boolean(),
  /**
   * Attestation policy for the attestation step (lambdas/attestation/policy.ts), checked here at
   * synth. It must pin the measurements of the profile's image (see `pinProblem`).
   */
  attestationPolicy: AttestationPolicySchema.optional(),
  /**
   * Run without pinned measurements: any non-debug image of the profile's isolation is accepted.
   * Must be said explicitly; synth warns, and every attestation event of such a session says so.
   */
  unpinned: z.boolean().default(false),
  /** Root volume size (GiB). */
  rootVolumeGiB: z.number().int().min(8).max(1024).default(30),
});
export type Profile = z.output<typeof Profile>;

export const UseCase = z.strictObject({
  /** The least isolation this use case may run with. */
  tier: z.enum(TIERS),
  description: z.string().max(300).default(''),
});

export const SessionsConfig = z
  .strictObject({
    profiles: z.record(Name, Profile),
    tiers: z.strictObject({ low: Name, medium: Name, high: Name }),
    useCases: z.record(Name, UseCase),
    /** Known cohorts (flags are set per cohort; unknown cohorts are refused). */
    cohorts: z.array(Name).min(1).max(100),
    minTtlSeconds: z.number().int().min(1).max(86_400),
    defaultTtlSeconds: z.number().int().min(1),
    attestation: z.strictObject({
      /** How long a launched session may take to boot and attest. */
      timeoutSeconds: z.number().int().min(30).max(3600),
      /** The guest (through the guests' door, POST /v1/heartbeat) must report progress this often while booting. */
      heartbeatSeconds: z.number().int().min(10).max(3600),
    }),
    /** What an attestation failure or timeout ends in. `tombstone` starts `aidops-tombstone` (falls back to teardown). */
    onAttestationFailure: z.enum(['teardown', 'tombstone']),
    /** Polls of DescribeInstances (2 s doubling, capped at 30 s) before a launch counts as failed. */
    maxRunningPolls: z.number().int().min(1).max(40),
    sweeper: z.strictObject({
      /** A new deployment only reports; set false once the report looks right. */
      dryRun: z.boolean(),
      rateMinutes: z.number().int().min(5).max(1440),
      /** Resources younger than this, or sessions expired for less, are left alone (launch races). */
      graceSeconds: z.number().int().min(0).max(86_400),
    }),
    dnsFirewall: z.strictObject({ enabled: z.boolean() }),
    /** SSM path prefix of the fleet flags. */
    flagPrefix: z.string().regex(/^(\/[A-Za-z0-9_.-]+)+$/),
    /** How long admission caches the flags: at most 30 s, so a flip reaches the fleet within a minute. */
    flagCacheSeconds: z.number().int().min(0).max(30),
    /**
     * The guests' door (lib/constructs/sessions/guest-door.ts). API Gateway's stage limit is one
     * bucket shared by every caller (a backstop for the fleet); each instance's own limit is kept
     * by the door's handler, a counter per fixed window on its session item.
     */
    door: z.strictObject({
      stageRateLimit: z.number().int().min(1).max(10_000),
      stageBurstLimit: z.number().int().min(1).max(5_000),
      callerRequests: z.number().int().min(1).max(100_000),
      callerWindowSeconds: z.number().int().min(1).max(3600),
    }),
  })
  .superRefine((c, ctx) => {
    for (const [name, p] of Object.entries(c.profiles)) {
      const at = (...path: (string | number)[]) => ['profiles', name, ...path];
      if (!EVIDENCE_FOR[p.isolation].includes(p.evidenceType))
        ctx.addIssue({
          code: 'custom',
          path: at('evidenceType'),
          message: `${p.isolation} produces ${EVIDENCE_FOR[p.isolation].join(' or ')} evidence, not ${p.evidenceType}`,
        });
      p.instanceTypes.forEach((t, i) => {
        const problem = instanceTypeProblem(p.isolation, t);
        if (problem) ctx.addIssue({ code: 'custom', path: at('instanceTypes', i), message: problem });
      });
      const pin = pinProblem(p.isolation, p.attestationPolicy);
      if (pin && !p.unpinned)
        ctx.addIssue({
          code: 'custom',
          path: at('attestationPolicy'),
          message: `${pin}; pin the image's measurements, or say "unpinned": true to accept any image`,
        });
      if (!pin && p.unpinned)
        ctx.addIssue({
          code: 'custom',
          path: at('unpinned'),
          message: 'the profile pins its measurements: set "unpinned" to false',
        });
      if (p.maxTtlSeconds < c.minTtlSeconds)
        ctx.addIssue({ code: 'custom', path: at('maxTtlSeconds'), message: 'shorter than minTtlSeconds' });
    }
    for (const t of TIERS)
      if (!c.profiles[c.tiers[t]])
        ctx.addIssue({ code: 'custom', path: ['tiers', t], message: `no profile named ${c.tiers[t]}` });
    if (c.tiers.high && c.profiles[c.tiers.high]?.isolation !== 'sev-snp')
      ctx.addIssue({ code: 'custom', path: ['tiers', 'high'], message: 'the high tier must use a sev-snp profile' });
    if (c.defaultTtlSeconds < c.minTtlSeconds)
      ctx.addIssue({ code: 'custom', path: ['defaultTtlSeconds'], message: 'shorter than minTtlSeconds' });
    if (c.attestation.heartbeatSeconds >= c.attestation.timeoutSeconds)
      ctx.addIssue({
        code: 'custom',
        path: ['attestation', 'heartbeatSeconds'],
        message: 'must be shorter than timeoutSeconds',
      });
  });
export type SessionsConfig = z.output<typeof SessionsConfig>;

/** Why an instance type cannot host an isolation kind, or undefined if it can. */
export function instanceTypeProblem(isolation: Isolation, instanceType: string): string | undefined {
  const [family = '', size = ''] = instanceType.split('.');
  if (isolation === 'sev-snp' && !(SEV_SNP_FAMILIES as readonly string[]).includes(family))
    return `${instanceType} cannot run AMD SEV-SNP: AWS supports it only on ${SEV_SNP_FAMILIES.join(', ')} instances`;
  if (isolation === 'nitro-enclave') {
    if (/^(t\d|a1|mac\d)/.test(family) || family.endsWith('-flex'))
      return `${instanceType} cannot run Nitro Enclaves (burstable, A1, Mac and flex families are excluded)`;
    const graviton = /^[a-z]+\d+g/.test(family);
    // Enclaves take whole cores from the parent: x86 parents need ≥ 4 vCPUs, Graviton ≥ 2.
    const small = ['nano', 'micro', 'small', 'medium'];
    if (small.includes(size) || (!graviton && size === 'large'))
      return `${instanceType} has too few vCPUs for a Nitro Enclave parent (x86 needs ≥ 4, Graviton ≥ 2)`;
  }
  return undefined;
}

/** PCRs a pin must name, per Nitro evidence: the enclave image (EIF, kernel, application), the boot chain and Secure Boot. */
export const REQUIRED_PCRS = { 'nitro-enclave': ['0', '1', '2'], nitrotpm: ['4', '7'] } as const;

/**
 * Why a profile's policy does not pin its image, or undefined if it does: an enclave
 * profile names PCR0, PCR1 and PCR2 of every allowed image, a NitroTPM profile PCR4 and
 * PCR7, a SEV-SNP profile at least one launch measurement.
 */
export function pinProblem(isolation: Isolation, policy: AttestationPolicy | undefined): string | undefined {
  if (isolation === 'sev-snp')
    return policy?.measurements?.length ? undefined : 'no SEV-SNP launch measurement is pinned (measurements)';
  const [key, want] =
    isolation === 'nitro-enclave'
      ? (['enclaveImages', REQUIRED_PCRS['nitro-enclave']] as const)
      : (['tpmImages', REQUIRED_PCRS.nitrotpm] as const);
  const images = policy?.[key];
  if (!images?.length) return `no image is pinned (${key})`;
  for (const [i, img] of images.entries()) {
    const missing = want.filter((pcr) => !(pcr in img.pcrs));
    if (missing.length > 0) return `${key}[${i}] does not pin PCR${missing.join(', PCR')}`;
  }
  return undefined;
}

const AL2023_X86 = 'resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64';

/**
 * Defaults: deny-all egress (VPC endpoints only), no secrets, short TTLs for the strongest tier.
 * There is no session image yet, so no measurement can be pinned: every default profile says
 * `unpinned: true` (synth warns). A deployment builds its image, measures it, and sets the
 * profile's `attestationPolicy` with `unpinned: false` (README, "Deploy").
 */
export const DEFAULT_SESSIONS_CONFIG: z.input<typeof SessionsConfig> = {
  profiles: {
    'confidential-vm': {
      isolation: 'sev-snp',
      evidenceType: 'sev-snp',
      description: 'AMD SEV-SNP confidential VM: memory encrypted from the host; evidence is an SNP report',
      images: [AL2023_X86],
      instanceTypes: ['m6a.large', 'm6a.xlarge', 'c6a.large', 'r6a.large'],
      maxTtlSeconds: 4 * 3600,
      // The host cannot read a confidential VM's memory; a capture would only show ciphertext.
      memoryEvidence: false,
      // No image yet, nothing to pin: a deployment sets its image's measurements (README, Deploy).
      unpinned: true,
    },
    'enclave-parent': {
      isolation: 'nitro-enclave',
      evidenceType: 'nitro-enclave',
      description: 'Nitro Enclave parent: secrets live only inside the enclave; evidence is a Nitro document',
      images: [AL2023_X86],
      instanceTypes: ['m6i.xlarge', 'c6i.xlarge', 'm6a.xlarge'],
      maxTtlSeconds: 8 * 3600,
      memoryEvidence: true,
      // No image yet, nothing to pin: a deployment sets its image's measurements (README, Deploy).
      unpinned: true,
    },
    hardened: {
      isolation: 'standard',
      evidenceType: 'nitrotpm',
      description: 'Hardened standard instance with NitroTPM measured boot',
      images: [AL2023_X86],
      instanceTypes: ['m6i.large', 'c6i.large', 'm6a.large'],
      maxTtlSeconds: 12 * 3600,
      memoryEvidence: true,
      // No image yet, nothing to pin: a deployment sets its image's measurements (README, Deploy).
      unpinned: true,
    },
  },
  tiers: { low: 'hardened', medium: 'enclave-parent', high: 'confidential-vm' },
  useCases: {
    'document-summary': { tier: 'low', description: 'Summarise documents; no secrets' },
    'document-authoring': { tier: 'medium', description: 'Write documents with internal data' },
    'financial-operations': { tier: 'high', description: 'Payments, ledgers, trading' },
    'personal-data': { tier: 'high', description: 'Processing personal data' },
  },
  cohorts: ['default', 'pilot'],
  minTtlSeconds: 300,
  defaultTtlSeconds: 3600,
  attestation: { timeoutSeconds: 900, heartbeatSeconds: 300 },
  onAttestationFailure: 'teardown',
  maxRunningPolls: 12,
  sweeper: { dryRun: true, rateMinutes: 15, graceSeconds: 600 },
  dnsFirewall: { enabled: false },
  flagPrefix: names().flagPrefix,
  flagCacheSeconds: 30,
  door: { stageRateLimit: 100, stageBurstLimit: 200, callerRequests: 120, callerWindowSeconds: 60 },
};

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Objects merge key by key; arrays and scalars in `over` replace. */
export function deepMerge(base: unknown, over: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(over)) return over === undefined ? base : over;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = deepMerge(base[k], v);
  return out;
}

/** Defaults merged with a context override (object or JSON text), checked; throws ValidationError with paths. */
export function parseSessionsConfig(override?: unknown): SessionsConfig {
  let o = override;
  if (typeof o === 'string') {
    try {
      o = JSON.parse(o);
    } catch {
      return parseOrThrow(SessionsConfig, { __invalidJson: o }, 'sessions config (aidops:sessions is not JSON)');
    }
  }
  return parseOrThrow(SessionsConfig, deepMerge(DEFAULT_SESSIONS_CONFIG, o ?? {}), 'sessions config');
}

/** Seconds from "90s", "30m", "2h", "1h30m", "1d" or a bare number of seconds. */
export function parseTtl(s: string | number): number {
  if (typeof s === 'number') return s;
  if (/^\d+$/.test(s)) return Number(s);
  const m = /^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(s.trim());
  if (!m || s.trim() === '') return Number.NaN;
  const [, d = '0', h = '0', mi = '0', se = '0'] = m;
  return Number(d) * 86_400 + Number(h) * 3600 + Number(mi) * 60 + Number(se);
}
