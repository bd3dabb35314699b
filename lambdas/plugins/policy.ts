/**
 * Plugin trust policy: one JSON document per deployment, zod-checked, and its
 * evaluation over the verified bundles of one artifact (facts: ./provenance.ts).
 *
 * The policy decides who may sign (an OIDC identity, a GitHub Actions source
 * repository + ref, or a named key), which provenance predicates count, which
 * builders are trusted and at which SLSA build level, which source repositories
 * and refs may produce plugins, and whether a first-time publisher needs a person.
 * Patterns are anchored: a regex is matched against the whole string and a glob's
 * `*` never escapes the value (see README: the library's SAN check is unanchored).
 */
import * as z from 'zod';
import { parseOrThrow } from '../shared/validation.ts';
import { refuse } from './errors.ts';
import {
  normalizeRepoUri,
  type ProvenanceFacts,
  provenanceFacts,
  type SignerFacts,
  SLSA_PROVENANCE_V1,
  SLSA_PROVENANCE_V02,
  signerFacts,
} from './provenance.ts';
import type { VerifiedBundle } from './verify.ts';

export const GITHUB_ACTIONS_ISSUER = 'https://token.actions.githubusercontent.com';

const regexString = z.string().refine(
  (s) => {
    try {
      new RegExp(s);
      return true;
    } catch {
      return false;
    }
  },
  { message: 'not a valid regular expression' },
);

const OidcSigner = z
  .object({
    kind: z.literal('oidc'),
    /** Compared exactly (cosign --certificate-oidc-issuer). */
    issuer: z.url(),
    /** Exact SAN (cosign --certificate-identity). */
    subject: z.string().min(1).optional(),
    /** Anchored regex over the whole SAN (cosign --certificate-identity-regexp). */
    subjectRegex: regexString.optional(),
    /** Publisher id recorded in the registry; default `oidc:<issuer>#<subject>`. */
    publisher: z.string().min(1).optional(),
  })
  .strict()
  .refine((s) => (s.subject === undefined) !== (s.subjectRegex === undefined), {
    message: 'exactly one of subject or subjectRegex',
  });

const GithubSigner = z
  .object({
    kind: z.literal('github-actions'),
    /** `owner/name`: the source repository (certificate extension), not the SAN's workflow repo. */
    repository: z.string().regex(/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/, 'owner/name'),
    /** Glob over the source ref, e.g. `refs/tags/v*`; `*` matches any run of characters. */
    refPattern: z.string().min(1),
    /** Optional glob over the workflow path in the build config URI, e.g. `.github/workflows/release.yml`. */
    workflowPattern: z.string().min(1).optional(),
    /** @default GitHub.com's issuer; GHE tenants have their own. */
    issuer: z.url().default(GITHUB_ACTIONS_ISSUER),
    publisher: z.string().min(1).optional(),
  })
  .strict();

const KeySigner = z
  .object({
    kind: z.literal('key'),
    /** The bundle's `publicKey.hint` (e.g. the npm registry key id). */
    keyId: z.string().min(1),
    publisher: z.string().min(1).optional(),
  })
  .strict();

export const SignerRule = z.discriminatedUnion('kind', [OidcSigner, GithubSigner, KeySigner]);
export type SignerRule = z.output<typeof SignerRule>;

export const BuilderRule = z
  .object({
    /** Glob over the builder id, e.g. `https://github.com/npm/cli@*`. */
    id: z.string().min(1),
    /** SLSA build level this deployment attributes to the builder (0–3). */
    slsaBuildLevel: z.number().int().min(0).max(3),
  })
  .strict();

export const TrustPolicy = z
  .object({
    version: z.literal(1),
    signers: z.array(SignerRule).min(1),
    provenance: z
      .object({
        /** Without provenance a plugin has SLSA build level 0. @default true */
        required: z.boolean().default(true),
        predicateTypes: z
          .array(z.enum([SLSA_PROVENANCE_V02, SLSA_PROVENANCE_V1]))
          .min(1)
          .default([SLSA_PROVENANCE_V1]),
        builders: z.array(BuilderRule).default([]),
        /** Globs over normalized repository URLs (`https://github.com/owner/name`) or `owner/name`. */
        sourceRepositories: z.array(z.string().min(1)).default([]),
        /** Globs over refs, e.g. `refs/tags/v*`; empty = any. */
        sourceRefs: z.array(z.string().min(1)).default([]),
        minSlsaBuildLevel: z.number().int().min(0).max(3).default(0),
      })
      .strict()
      .prefault({}),
    /** A publisher not yet in the registry waits for a person's approval. @default true */
    newPublisherNeedsApproval: z.boolean().default(true),
    /** Admissions expire and must be re-verified (re-admitted) after this many days. @default 90 */
    admissionTtlDays: z.number().int().min(1).max(3650).default(90),
  })
  .strict();

export type TrustPolicy = z.output<typeof TrustPolicy>;
export type TrustPolicyInput = z.input<typeof TrustPolicy>;

/** Parses a policy document (JSON text or object) or throws ValidationError naming each bad field. */
export function parseTrustPolicy(input: unknown): TrustPolicy {
  let json = input;
  if (typeof input === 'string') {
    try {
      json = JSON.parse(input);
    } catch (e) {
      json = { __notJson: (e as Error).message };
    }
  }
  return parseOrThrow(TrustPolicy, json, 'trust policy');
}

export interface PolicyDecision {
  readonly publisher: string;
  readonly signerRule: number;
  readonly signer: SignerFacts;
  readonly provenance?: ProvenanceFacts;
  readonly slsaBuildLevel: number;
}

/** `*` matches any run of characters; everything else is literal; the whole value must match. */
export function globMatch(pattern: string, value: string): boolean {
  const re = pattern
    .split('*')
    .map((p) => p.replace(/[.+?^${}()|[\]\\/]/g, '\\$&'))
    .join('.*');
  return new RegExp(`^${re}$`).test(value);
}

/** Whole-string regex match (the user's pattern wrapped in ^(?:…)$). */
export function anchoredMatch(pattern: string, value: string): boolean {
  return new RegExp(`^(?:${pattern})$`).test(value);
}

function publisherOf(rule: SignerRule, s: SignerFacts): string {
  if (rule.publisher) return rule.publisher;
  switch (rule.kind) {
    case 'github-actions':
      return `github:${rule.repository.toLowerCase()}`;
    case 'key':
      return `key:${rule.keyId}`;
    case 'oidc':
      return `oidc:${rule.issuer}#${s.subjectAlternativeName ?? ''}`;
  }
}

/** Index of the first rule the signer satisfies, or the most specific refusal. */
function matchSigner(policy: TrustPolicy, s: SignerFacts): number {
  let issuerSeen = false;
  for (const [i, rule] of policy.signers.entries()) {
    if (rule.kind === 'key') {
      if (s.kind === 'key' && s.keyHint === rule.keyId) return i;
      continue;
    }
    if (s.kind !== 'certificate' || s.issuer !== rule.issuer) continue;
    issuerSeen = true;
    if (rule.kind === 'oidc') {
      const san = s.subjectAlternativeName ?? '';
      if (rule.subject !== undefined ? san === rule.subject : anchoredMatch(rule.subjectRegex ?? '', san)) return i;
    } else {
      const want = `https://github.com/${rule.repository}`.toLowerCase();
      if (s.sourceRepository?.toLowerCase() !== want) continue;
      if (!s.sourceRef || !globMatch(rule.refPattern, s.sourceRef)) continue;
      if (rule.workflowPattern) {
        const path = s.buildConfigURI?.match(/^https:\/\/github\.com\/[^/]+\/[^/]+\/(.+?)@/)?.[1];
        if (!path || !globMatch(rule.workflowPattern, path)) continue;
      }
      return i;
    }
  }
  if (s.kind === 'key') return refuse('SIGNER_NOT_ALLOWED', `key ${s.keyHint ?? '?'} is not an allowed signer`);
  if (!issuerSeen)
    return refuse('ISSUER_MISMATCH', `issuer ${s.issuer ?? '(none)'} is not allowed`, { issuer: s.issuer });
  return refuse('IDENTITY_MISMATCH', `signer ${s.subjectAlternativeName ?? '(none)'} is not allowed`, {
    san: s.subjectAlternativeName,
    sourceRepository: s.sourceRepository,
    sourceRef: s.sourceRef,
  });
}

function repoAllowed(patterns: readonly string[], repo: string): boolean {
  return patterns.some((p) => globMatch(normalizeRepoUri(p).repo.toLowerCase(), repo.toLowerCase()));
}

/**
 * Evaluates the policy over the verified bundles of one artifact (a signature and/or
 * provenance; npm ships provenance + a registry publish attestation). The first
 * certificate-signed bundle is the publisher's signature; key-signed ones must match a key rule.
 */
export function evaluatePolicy(policy: TrustPolicy, bundles: readonly VerifiedBundle[]): PolicyDecision {
  if (bundles.length === 0) return refuse('MALFORMED_BUNDLE', 'no bundle to evaluate');
  const signers = bundles.map(signerFacts);
  const primaryIdx = Math.max(
    0,
    signers.findIndex((s) => s.kind === 'certificate'),
  );
  const primary = signers[primaryIdx] as SignerFacts;
  const rule = matchSigner(policy, primary);
  for (const [i, s] of signers.entries()) if (i !== primaryIdx) matchSigner(policy, s);

  // Attestations must be provenance of an allowed predicate type; anything else signed is refused.
  let provenance: ProvenanceFacts | undefined;
  let provenanceSigner: SignerFacts | undefined;
  for (const [i, b] of bundles.entries()) {
    const st = b.statement;
    if (!st) continue;
    const isProvenance = st.predicateType === SLSA_PROVENANCE_V02 || st.predicateType === SLSA_PROVENANCE_V1;
    if (!isProvenance) {
      // A key-signed registry attestation (npm publish) is not provenance; its signature is what counts.
      if (signers[i]?.kind === 'key') continue;
      return refuse('PREDICATE_TYPE_NOT_ALLOWED', `predicate type ${st.predicateType} is not accepted`, {
        predicateType: st.predicateType,
      });
    }
    if (!(policy.provenance.predicateTypes as readonly string[]).includes(st.predicateType))
      return refuse('PREDICATE_TYPE_NOT_ALLOWED', `predicate type ${st.predicateType} is not accepted`, {
        predicateType: st.predicateType,
      });
    provenance ??= provenanceFacts(st);
    provenanceSigner ??= signers[i];
  }

  const p = policy.provenance;
  let level = 0;
  if (!provenance) {
    if (p.required || p.minSlsaBuildLevel > 0)
      refuse('PROVENANCE_MISSING', 'no SLSA provenance accompanies the artifact');
  } else {
    const builder = p.builders.find((b) => globMatch(b.id, provenance.builderId));
    if (!builder)
      refuse('BUILDER_NOT_ALLOWED', `builder ${provenance.builderId} is not allowed`, {
        builderId: provenance.builderId,
      });
    level = builder?.slsaBuildLevel ?? 0;
    if (level < p.minSlsaBuildLevel)
      refuse(
        'SLSA_LEVEL_TOO_LOW',
        `builder ${provenance.builderId} is SLSA build L${level}, policy needs L${p.minSlsaBuildLevel}`,
        {
          level,
          required: p.minSlsaBuildLevel,
        },
      );
    if (!provenance.sourceRepository) refuse('PROVENANCE_INVALID', 'provenance names no source repository');
    const repo = provenance.sourceRepository as string;
    if (p.sourceRepositories.length > 0 && !repoAllowed(p.sourceRepositories, repo))
      refuse('PROVENANCE_REPO_NOT_ALLOWED', `source repository ${repo} is not allowed`, { sourceRepository: repo });
    if (
      p.sourceRefs.length > 0 &&
      !(provenance.sourceRef && p.sourceRefs.some((r) => globMatch(r, provenance.sourceRef as string)))
    )
      refuse('PROVENANCE_REF_NOT_ALLOWED', `source ref ${provenance.sourceRef ?? '(none)'} is not allowed`, {
        sourceRef: provenance.sourceRef,
      });
    // The certificate is a second, independent record of the source: both must agree.
    const certRepo = provenanceSigner?.sourceRepository;
    if (certRepo && certRepo.toLowerCase() !== repo.toLowerCase())
      refuse('PROVENANCE_MISMATCH', `provenance says ${repo}, the signing certificate says ${certRepo}`);
    const certCommit = provenanceSigner?.sourceCommit;
    if (certCommit && provenance.sourceCommit && certCommit !== provenance.sourceCommit)
      refuse(
        'PROVENANCE_MISMATCH',
        `provenance commit ${provenance.sourceCommit} differs from the certificate's ${certCommit}`,
      );
  }
  return {
    publisher: publisherOf(policy.signers[rule] as SignerRule, primary),
    signerRule: rule,
    signer: primary,
    ...(provenance ? { provenance } : {}),
    slsaBuildLevel: level,
  };
}
