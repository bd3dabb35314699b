/**
 * Plugin trust policy (one JSON document per deployment, zod-checked) and the
 * SLSA provenance facts it is evaluated against.
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
import { PluginVerificationError, type ReasonCode } from './errors.ts';
import type { FulcioExtensions, InTotoStatement, VerifiedBundle } from './verify.ts';

export const SLSA_PROVENANCE_V02 = 'https://slsa.dev/provenance/v0.2';
export const SLSA_PROVENANCE_V1 = 'https://slsa.dev/provenance/v1';
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

/** Provenance facts, the same whether they came from SLSA v0.2 or v1. */
export interface ProvenanceFacts {
  readonly predicateType: string;
  readonly builderId: string;
  readonly buildType?: string;
  /** Normalized: `https://github.com/owner/name` (no `git+`, no `.git`). */
  readonly sourceRepository?: string;
  readonly sourceRef?: string;
  readonly sourceCommit?: string;
  readonly workflowPath?: string;
  readonly subjects: readonly { name?: string; digest: Readonly<Record<string, string>> }[];
}

export interface SignerFacts {
  readonly kind: 'certificate' | 'key';
  readonly subjectAlternativeName?: string;
  readonly issuer?: string;
  readonly keyHint?: string;
  readonly sourceRepository?: string;
  readonly sourceRef?: string;
  readonly sourceCommit?: string;
  readonly buildConfigURI?: string;
}

export interface PolicyDecision {
  readonly publisher: string;
  readonly signerRule: number;
  readonly signer: SignerFacts;
  readonly provenance?: ProvenanceFacts;
  readonly slsaBuildLevel: number;
}

const deny = (reason: ReasonCode, message: string, details: Record<string, unknown> = {}): never => {
  throw new PluginVerificationError(reason, message, details);
};

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

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

/** `git+https://github.com/o/r.git@refs/x` → {repo: https://github.com/o/r, ref: refs/x}. */
export function normalizeRepoUri(uri: string): { repo: string; ref?: string } {
  let u = uri.trim().replace(/^git\+/, '');
  let ref: string | undefined;
  const at = u.indexOf('@', u.indexOf('://') + 3);
  if (at > 0) {
    ref = u.slice(at + 1);
    u = u.slice(0, at);
  }
  u = u.replace(/\.git$/, '').replace(/\/+$/, '');
  if (/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/.test(u)) u = `https://github.com/${u}`;
  return ref ? { repo: u, ref } : { repo: u };
}

/** Reads provenance facts from a verified in-toto statement (SLSA v0.2 or v1). */
export function provenanceFacts(statement: InTotoStatement): ProvenanceFacts {
  const p = statement.predicate;
  if (!isObject(p)) return deny('PROVENANCE_INVALID', 'provenance predicate is not an object');
  const base = { predicateType: statement.predicateType, subjects: statement.subject };
  if (statement.predicateType === SLSA_PROVENANCE_V02) {
    // v0.2: builder.id; source in invocation.configSource (uri@ref, digest.sha1), else materials[0].
    const builderId = isObject(p.builder) ? str(p.builder.id) : undefined;
    if (!builderId) return deny('PROVENANCE_INVALID', 'SLSA v0.2 provenance has no builder.id');
    const cs = isObject(p.invocation) && isObject(p.invocation.configSource) ? p.invocation.configSource : {};
    const mat0 = Array.isArray(p.materials) && isObject(p.materials[0]) ? p.materials[0] : {};
    const csUri = str(cs.uri) ?? str(mat0.uri);
    const src = csUri ? normalizeRepoUri(csUri) : undefined;
    const digest = isObject(cs.digest) ? cs.digest : isObject(mat0.digest) ? mat0.digest : {};
    const entry = str(cs.entryPoint);
    const wf = entry?.match(/^[^/]+\/[^/]+\/(.+?)(@.*)?$/)?.[1];
    return {
      ...base,
      builderId,
      ...(str(p.buildType) ? { buildType: str(p.buildType) } : {}),
      ...(src ? { sourceRepository: src.repo } : {}),
      ...(src?.ref ? { sourceRef: src.ref } : {}),
      ...(str(digest.sha1) ? { sourceCommit: str(digest.sha1) } : {}),
      ...(wf ? { workflowPath: wf } : {}),
    };
  }
  if (statement.predicateType === SLSA_PROVENANCE_V1) {
    // v1: runDetails.builder.id; source in buildDefinition.externalParameters.workflow, commit in resolvedDependencies.
    const rd = isObject(p.runDetails) ? p.runDetails : {};
    const builderId = isObject(rd.builder) ? str(rd.builder.id) : undefined;
    if (!builderId) return deny('PROVENANCE_INVALID', 'SLSA v1 provenance has no runDetails.builder.id');
    const bd = isObject(p.buildDefinition) ? p.buildDefinition : {};
    const ext = isObject(bd.externalParameters) ? bd.externalParameters : {};
    const wf = isObject(ext.workflow) ? ext.workflow : {};
    const deps = Array.isArray(bd.resolvedDependencies) ? bd.resolvedDependencies.filter(isObject) : [];
    const dep0 = deps[0] ?? {};
    const depSrc = str(dep0.uri) ? normalizeRepoUri(str(dep0.uri) as string) : undefined;
    const repo = str(wf.repository) ? normalizeRepoUri(str(wf.repository) as string).repo : depSrc?.repo;
    const ref = str(wf.ref) ?? depSrc?.ref;
    const digest = isObject(dep0.digest) ? dep0.digest : {};
    return {
      ...base,
      builderId,
      ...(str(bd.buildType) ? { buildType: str(bd.buildType) } : {}),
      ...(repo ? { sourceRepository: repo } : {}),
      ...(ref ? { sourceRef: ref } : {}),
      ...((str(digest.gitCommit) ?? str(digest.sha1))
        ? { sourceCommit: str(digest.gitCommit) ?? str(digest.sha1) }
        : {}),
      ...(str(wf.path) ? { workflowPath: str(wf.path) } : {}),
    };
  }
  return deny('PREDICATE_TYPE_NOT_ALLOWED', `no provenance parser for ${statement.predicateType}`);
}

/** Source facts the Fulcio certificate itself carries (v2 OIDs, else the v1 GitHub ones). */
export function signerFacts(v: VerifiedBundle): SignerFacts {
  const x: FulcioExtensions = v.signer.extensions;
  const repo =
    x.sourceRepositoryURI ??
    (x.githubWorkflowRepository ? `https://github.com/${x.githubWorkflowRepository}` : undefined);
  const ref = x.sourceRepositoryRef ?? x.githubWorkflowRef;
  const commit = x.sourceRepositoryDigest ?? x.githubWorkflowSha;
  return {
    kind: v.signer.kind,
    ...(v.signer.subjectAlternativeName ? { subjectAlternativeName: v.signer.subjectAlternativeName } : {}),
    ...(v.signer.issuer ? { issuer: v.signer.issuer } : {}),
    ...(v.signer.keyHint ? { keyHint: v.signer.keyHint } : {}),
    ...(repo ? { sourceRepository: normalizeRepoUri(repo).repo } : {}),
    ...(ref ? { sourceRef: ref } : {}),
    ...(commit ? { sourceCommit: commit } : {}),
    ...(x.buildConfigURI ? { buildConfigURI: x.buildConfigURI } : {}),
  };
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
  if (s.kind === 'key') return deny('SIGNER_NOT_ALLOWED', `key ${s.keyHint ?? '?'} is not an allowed signer`);
  if (!issuerSeen)
    return deny('ISSUER_MISMATCH', `issuer ${s.issuer ?? '(none)'} is not allowed`, { issuer: s.issuer });
  return deny('IDENTITY_MISMATCH', `signer ${s.subjectAlternativeName ?? '(none)'} is not allowed`, {
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
  if (bundles.length === 0) return deny('MALFORMED_BUNDLE', 'no bundle to evaluate');
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
      return deny('PREDICATE_TYPE_NOT_ALLOWED', `predicate type ${st.predicateType} is not accepted`, {
        predicateType: st.predicateType,
      });
    }
    if (!(policy.provenance.predicateTypes as readonly string[]).includes(st.predicateType))
      return deny('PREDICATE_TYPE_NOT_ALLOWED', `predicate type ${st.predicateType} is not accepted`, {
        predicateType: st.predicateType,
      });
    provenance ??= provenanceFacts(st);
    provenanceSigner ??= signers[i];
  }

  const p = policy.provenance;
  let level = 0;
  if (!provenance) {
    if (p.required || p.minSlsaBuildLevel > 0)
      deny('PROVENANCE_MISSING', 'no SLSA provenance accompanies the artifact');
  } else {
    const builder = p.builders.find((b) => globMatch(b.id, provenance.builderId));
    if (!builder)
      deny('BUILDER_NOT_ALLOWED', `builder ${provenance.builderId} is not allowed`, {
        builderId: provenance.builderId,
      });
    level = builder?.slsaBuildLevel ?? 0;
    if (level < p.minSlsaBuildLevel)
      deny(
        'SLSA_LEVEL_TOO_LOW',
        `builder ${provenance.builderId} is SLSA build L${level}, policy needs L${p.minSlsaBuildLevel}`,
        {
          level,
          required: p.minSlsaBuildLevel,
        },
      );
    if (!provenance.sourceRepository) deny('PROVENANCE_INVALID', 'provenance names no source repository');
    const repo = provenance.sourceRepository as string;
    if (p.sourceRepositories.length > 0 && !repoAllowed(p.sourceRepositories, repo))
      deny('PROVENANCE_REPO_NOT_ALLOWED', `source repository ${repo} is not allowed`, { sourceRepository: repo });
    if (
      p.sourceRefs.length > 0 &&
      !(provenance.sourceRef && p.sourceRefs.some((r) => globMatch(r, provenance.sourceRef as string)))
    )
      deny('PROVENANCE_REF_NOT_ALLOWED', `source ref ${provenance.sourceRef ?? '(none)'} is not allowed`, {
        sourceRef: provenance.sourceRef,
      });
    // The certificate is a second, independent record of the source: both must agree.
    const certRepo = provenanceSigner?.sourceRepository;
    if (certRepo && certRepo.toLowerCase() !== repo.toLowerCase())
      deny('PROVENANCE_MISMATCH', `provenance says ${repo}, the signing certificate says ${certRepo}`);
    const certCommit = provenanceSigner?.sourceCommit;
    if (certCommit && provenance.sourceCommit && certCommit !== provenance.sourceCommit)
      deny(
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
