/**
 * What a verified bundle says about where the artifact came from: the SLSA
 * provenance a DSSE statement carries (v0.2 or v1, read into one shape) and the
 * source facts the Fulcio certificate itself carries. The trust policy
 * (./policy.ts) is evaluated against these.
 */
import { refuse } from './errors.ts';
import { isObject } from './json.ts';
import type { FulcioExtensions, InTotoStatement, VerifiedBundle } from './verify.ts';

export const SLSA_PROVENANCE_V02 = 'https://slsa.dev/provenance/v0.2';
export const SLSA_PROVENANCE_V1 = 'https://slsa.dev/provenance/v1';

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

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

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
  if (!isObject(p)) return refuse('PROVENANCE_INVALID', 'provenance predicate is not an object');
  const base = { predicateType: statement.predicateType, subjects: statement.subject };
  if (statement.predicateType === SLSA_PROVENANCE_V02) {
    // v0.2: builder.id; source in invocation.configSource (uri@ref, digest.sha1), else materials[0].
    const builderId = isObject(p.builder) ? str(p.builder.id) : undefined;
    if (!builderId) return refuse('PROVENANCE_INVALID', 'SLSA v0.2 provenance has no builder.id');
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
    if (!builderId) return refuse('PROVENANCE_INVALID', 'SLSA v1 provenance has no runDetails.builder.id');
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
  return refuse('PREDICATE_TYPE_NOT_ALLOWED', `no provenance parser for ${statement.predicateType}`);
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
