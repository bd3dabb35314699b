/**
 * Offline Sigstore bundle verification for plugin admission.
 *
 * The cryptography is `@sigstore/verify` (Fulcio chain at the signing time, SCTs,
 * Rekor inclusion proof / checkpoint / SET, RFC 3161 timestamps, the signature).
 * This module adds what the library leaves to the caller (see
 * test/fixtures/sigstore/README.md, "What the library does not check"):
 * exact, anchored identity matching; the artifact digest against a DSSE statement's
 * subjects; rejecting a root certificate shipped in the bundle; rejecting a trusted
 * root whose log keys have no validity start; and one typed error with a stable
 * reason code for every failure, including a library crash on hostile bytes.
 *
 * A `PluginVerifier` parses the trusted root once and is reused (warm Lambda).
 */
import { createHash, createPublicKey, type KeyObject, X509Certificate } from 'node:crypto';
import { type Bundle, bundleFromJSON, type SerializedBundle } from '@sigstore/bundle';
// Transitive dependency of @sigstore/verify (same pinned tree); the only public
// parser from trusted_root.json to the TrustedRoot that toTrustMaterial takes.
import { TrustedRoot } from '@sigstore/protobuf-specs';
import {
  type KeyFinderFunc,
  type SignedEntity,
  type Signer,
  type TrustMaterial,
  toSignedEntity,
  toTrustMaterial,
  VerificationError,
  Verifier,
} from '@sigstore/verify';
import { PluginVerificationError, type ReasonCode } from './errors.ts';

export const BUNDLE_MEDIA_TYPES = [
  'application/vnd.dev.sigstore.bundle+json;version=0.1',
  'application/vnd.dev.sigstore.bundle+json;version=0.2',
  'application/vnd.dev.sigstore.bundle+json;version=0.3',
  'application/vnd.dev.sigstore.bundle.v0.3+json',
] as const;

export const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';

/** The artifact: its bytes (required for message-signature bundles) or known digests (hex). */
export interface ArtifactInput {
  readonly bytes?: Buffer;
  readonly digests?: Readonly<{ sha256?: string; sha512?: string }>;
}

/** cosign's `--certificate-identity` / `--certificate-oidc-issuer`: exact string equality. */
export interface ExpectedIdentity {
  readonly subjectAlternativeName?: string;
  readonly issuer?: string;
}

/** A verification key for key-signed bundles (npm registry keys, cosign `--key`). */
export interface TrustedKey {
  readonly publicKey: KeyObject;
  readonly validFor?: { readonly start?: Date; readonly end?: Date };
}

export interface VerifyOptions {
  /** Checked exactly (no regex): a mismatch is IDENTITY_MISMATCH / ISSUER_MISMATCH. */
  readonly identity?: ExpectedIdentity;
  /** Keys by bundle hint (keyId), added to the verifier's own keys for this call. */
  readonly keys?: Readonly<Record<string, TrustedKey>>;
  /** cosign `--key`: the one key a key-signed bundle must verify with, whatever its hint. */
  readonly key?: TrustedKey;
}

/** Fulcio certificate extensions (OIDs 1.3.6.1.4.1.57264.1.*) by name. */
export type FulcioExtensions = Partial<Record<(typeof FULCIO_OIDS)[keyof typeof FULCIO_OIDS], string>>;

export interface InTotoStatement {
  readonly _type: string;
  readonly subject: readonly { name?: string; digest: Readonly<Record<string, string>> }[];
  readonly predicateType: string;
  readonly predicate: unknown;
}

export interface VerifiedBundle {
  readonly mediaType: string;
  readonly content: 'messageSignature' | 'dsseEnvelope';
  readonly signer: {
    readonly kind: 'certificate' | 'key';
    readonly subjectAlternativeName?: string;
    readonly issuer?: string;
    readonly keyHint?: string;
    readonly extensions: FulcioExtensions;
  };
  /** Earliest verified time (TSA, else Rekor integrated time); the certificate was valid then. */
  readonly signedAt: string;
  readonly timeSource: 'timestamp-authority' | 'transparency-log';
  readonly tlog: readonly { logIndex: string; kind: string; version: string; integratedTime?: string }[];
  /** Artifact digests that matched the signed content (hex). */
  readonly artifactDigest: Readonly<{ sha256?: string; sha512?: string }>;
  readonly payloadType?: string;
  readonly statement?: InTotoStatement;
}

/** Fulcio extension OIDs → field names (v1 raw strings .1–.6, v2 DER UTF8String .8–.22). */
export const FULCIO_OIDS = {
  '1.3.6.1.4.1.57264.1.1': 'issuerV1',
  '1.3.6.1.4.1.57264.1.2': 'githubWorkflowTrigger',
  '1.3.6.1.4.1.57264.1.3': 'githubWorkflowSha',
  '1.3.6.1.4.1.57264.1.4': 'githubWorkflowName',
  '1.3.6.1.4.1.57264.1.5': 'githubWorkflowRepository',
  '1.3.6.1.4.1.57264.1.6': 'githubWorkflowRef',
  '1.3.6.1.4.1.57264.1.8': 'issuer',
  '1.3.6.1.4.1.57264.1.9': 'buildSignerURI',
  '1.3.6.1.4.1.57264.1.10': 'buildSignerDigest',
  '1.3.6.1.4.1.57264.1.11': 'runnerEnvironment',
  '1.3.6.1.4.1.57264.1.12': 'sourceRepositoryURI',
  '1.3.6.1.4.1.57264.1.13': 'sourceRepositoryDigest',
  '1.3.6.1.4.1.57264.1.14': 'sourceRepositoryRef',
  '1.3.6.1.4.1.57264.1.15': 'sourceRepositoryIdentifier',
  '1.3.6.1.4.1.57264.1.16': 'sourceRepositoryOwnerURI',
  '1.3.6.1.4.1.57264.1.17': 'sourceRepositoryOwnerIdentifier',
  '1.3.6.1.4.1.57264.1.18': 'buildConfigURI',
  '1.3.6.1.4.1.57264.1.19': 'buildConfigDigest',
  '1.3.6.1.4.1.57264.1.20': 'buildTrigger',
  '1.3.6.1.4.1.57264.1.21': 'runInvocationURI',
  '1.3.6.1.4.1.57264.1.22': 'sourceRepositoryVisibilityAtSigning',
} as const;

const V1_RAW_OIDS = new Set(['1', '2', '3', '4', '5', '6'].map((n) => `1.3.6.1.4.1.57264.1.${n}`));

const fail = (reason: ReasonCode, message: string, details: Record<string, unknown> = {}): never => {
  throw new PluginVerificationError(reason, message, details);
};

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Reads a DER UTF8String (or any short primitive TLV) and returns its content as text. */
function derString(value: Buffer): string | undefined {
  if (value.length < 2) return undefined;
  let len = value[1] ?? 0;
  let off = 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 3 || value.length < 2 + n) return undefined;
    len = 0;
    for (let i = 0; i < n; i++) len = (len << 8) | (value[2 + i] ?? 0);
    off = 2 + n;
  }
  if (off + len > value.length) return undefined;
  return value.subarray(off, off + len).toString('utf8');
}

/** Names the Fulcio extensions of a verified signer; unknown OIDs are ignored. */
export function fulcioExtensions(signer: Signer): FulcioExtensions {
  const out: Record<string, string> = {};
  for (const { oid, value } of signer.identity?.oids ?? []) {
    const dotted = oid?.id.join('.') ?? '';
    const name = (FULCIO_OIDS as Record<string, string>)[dotted];
    if (!name) continue;
    const buf = Buffer.from(value);
    const text = V1_RAW_OIDS.has(dotted) ? buf.toString('utf8') : derString(buf);
    if (text !== undefined) out[name] = text;
  }
  return out as FulcioExtensions;
}

function hex(alg: 'sha256' | 'sha512', bytes: Buffer): string {
  return createHash(alg).update(bytes).digest('hex');
}

const HASH_BY_PROTO: Record<string, string> = {
  SHA2_256: 'sha256',
  SHA2_384: 'sha384',
  SHA2_512: 'sha512',
  HASH_ALGORITHM_UNSPECIFIED: 'sha256',
};

/** A trusted root that sigstore-js would accept but the spec forbids (see README: missing validFor.start). */
function checkTrustedRootShape(json: unknown): void {
  if (!isObject(json)) fail('TRUSTED_ROOT_INVALID', 'trusted root is not a JSON object');
  const root = json as Record<string, unknown>;
  const media = root.mediaType;
  if (typeof media !== 'string' || !media.startsWith('application/vnd.dev.sigstore.trustedroot'))
    fail('TRUSTED_ROOT_INVALID', `unexpected trusted root media type ${String(media)}`);
  for (const field of ['tlogs', 'ctlogs'] as const) {
    const list = root[field];
    if (list === undefined) continue;
    if (!Array.isArray(list)) fail('TRUSTED_ROOT_INVALID', `${field} is not a list`);
    (list as unknown[]).forEach((entry, i) => {
      const start = isObject(entry) && isObject(entry.publicKey) && isObject(entry.publicKey.validFor);
      if (
        !start ||
        typeof (entry as { publicKey: { validFor: { start?: unknown } } }).publicKey.validFor.start !== 'string'
      )
        fail('TRUSTED_ROOT_INVALID', `${field}[${i}].publicKey.validFor.start is required`);
    });
  }
  for (const field of ['certificateAuthorities', 'timestampAuthorities'] as const) {
    const list = root[field];
    if (list === undefined) continue;
    if (!Array.isArray(list)) fail('TRUSTED_ROOT_INVALID', `${field} is not a list`);
    (list as unknown[]).forEach((entry, i) => {
      if (!isObject(entry) || !isObject(entry.validFor) || typeof entry.validFor.start !== 'string')
        fail('TRUSTED_ROOT_INVALID', `${field}[${i}].validFor.start is required`);
    });
  }
}

/** Parses the npm registry keys document (sigstore-js `keys` form), keeping one usage. */
export function npmRegistryKeys(json: unknown, usage = 'npm:attestations'): Record<string, TrustedKey> {
  const out: Record<string, TrustedKey> = {};
  const keys = isObject(json) && Array.isArray(json.keys) ? json.keys : [];
  for (const k of keys as unknown[]) {
    if (!isObject(k) || k.keyUsage !== usage || typeof k.keyId !== 'string' || !isObject(k.publicKey)) continue;
    const pk = k.publicKey;
    if (typeof pk.rawBytes !== 'string') continue;
    const vf = isObject(pk.validFor) ? pk.validFor : {};
    out[k.keyId] = {
      publicKey: createPublicKey({ key: Buffer.from(pk.rawBytes, 'base64'), format: 'der', type: 'spki' }),
      validFor: {
        ...(typeof vf.start === 'string' ? { start: new Date(vf.start) } : {}),
        ...(typeof vf.end === 'string' ? { end: new Date(vf.end) } : {}),
      },
    };
  }
  return out;
}

/** A PEM public key (cosign `--key`); a bad key is KEY_INVALID. */
export function trustedKeyFromPem(pem: string | Buffer): TrustedKey {
  try {
    return { publicKey: createPublicKey(pem) };
  } catch (e) {
    return fail('KEY_INVALID', `cannot read public key: ${(e as Error).message}`);
  }
}

function keyFinder(keys: Readonly<Record<string, TrustedKey>>, only?: TrustedKey): KeyFinderFunc {
  return (hint: string) => {
    const k = only ?? keys[hint];
    if (!k) throw new VerificationError({ code: 'PUBLIC_KEY_ERROR', message: `key not found: ${hint}` });
    const start = k.validFor?.start?.getTime() ?? Number.NEGATIVE_INFINITY;
    const end = k.validFor?.end?.getTime() ?? Number.POSITIVE_INFINITY;
    return { publicKey: k.publicKey, validFor: (d: Date) => d.getTime() >= start && d.getTime() <= end };
  };
}

/**
 * sigstore-js uses only the leaf of a v0.1/v0.2 `x509CertificateChain` and builds the
 * path from the trusted root, so it never looks at the rest (README: it accepts a root
 * certificate there). We require the rest to be an ordered path of certificates the
 * trusted root itself holds: early npm bundles ship [leaf, intermediate, root] with the
 * trusted Sigstore root and still verify, while a chain carrying any other root (or a
 * root out of place) is refused.
 */
function checkChain(certs: readonly { rawBytes: Uint8Array }[], anchors: ReadonlySet<string>): void {
  const parsed = certs.map((c, i) => {
    try {
      return { der: Buffer.from(c.rawBytes), x: new X509Certificate(Buffer.from(c.rawBytes)) };
    } catch (e) {
      return fail('MALFORMED_BUNDLE', `certificate ${i} does not parse: ${(e as Error).message}`);
    }
  });
  parsed.forEach(({ der, x }, i) => {
    if (i === 0) return;
    const selfSigned = x.subject === x.issuer && x.checkIssued(x);
    if (selfSigned && i !== parsed.length - 1)
      fail('CERT_CHAIN_INVALID', 'bundle certificate chain has a root certificate before its end');
    if (!anchors.has(der.toString('hex')))
      fail(
        'CERT_CHAIN_INVALID',
        selfSigned
          ? 'bundle certificate chain contains a root certificate the trusted root does not hold'
          : 'bundle certificate chain contains a CA certificate the trusted root does not hold',
      );
    const child = parsed[i - 1]?.x;
    if (child && !child.checkIssued(x))
      fail('CERT_CHAIN_INVALID', `certificate ${i - 1} is not issued by certificate ${i}`);
  });
}

/** Parses bundle bytes or JSON into a Bundle, with the checks the library skips. */
export function parseBundle(
  input: Buffer | string | unknown,
  anchors?: ReadonlySet<string>,
): { bundle: Bundle; json: SerializedBundle } {
  let json: unknown = input;
  if (typeof input === 'string' || Buffer.isBuffer(input)) {
    try {
      json = JSON.parse(input.toString());
    } catch (e) {
      fail('MALFORMED_BUNDLE', `bundle is not JSON: ${(e as Error).message}`);
    }
  }
  if (!isObject(json)) return fail('MALFORMED_BUNDLE', 'bundle is not a JSON object');
  const mediaType = json.mediaType;
  if (typeof mediaType !== 'string' || !(BUNDLE_MEDIA_TYPES as readonly string[]).includes(mediaType))
    fail('UNSUPPORTED_MEDIA_TYPE', `unsupported bundle media type ${JSON.stringify(mediaType)}`, { mediaType });
  let bundle: Bundle;
  try {
    bundle = bundleFromJSON(json);
  } catch (e) {
    const fields = (e as { fields?: unknown }).fields;
    const list = Array.isArray(fields) ? fields.map(String) : [];
    // v0.2+ bundles must carry an inclusion proof with a checkpoint; say so precisely.
    if (list.some((f) => f.endsWith('.inclusionProof')))
      fail('TLOG_INCLUSION_MISSING', `${(e as Error).message}: ${list.join(', ')}`, { fields: list });
    if (list.some((f) => f.endsWith('.inclusionProof.checkpoint')))
      fail('TLOG_INCLUSION_INVALID', `${(e as Error).message}: ${list.join(', ')}`, { fields: list });
    return fail('MALFORMED_BUNDLE', `${(e as Error).message}${list.length ? `: ${list.join(', ')}` : ''}`, {
      fields: list,
    });
  }
  const vm = json.verificationMaterial;
  // A negative index cannot be a real log position; do not let it reach the log checks.
  const entries = isObject(vm) && Array.isArray(vm.tlogEntries) ? (vm.tlogEntries as unknown[]) : [];
  for (const e of entries) {
    if (isObject(e) && typeof e.logIndex === 'string' && e.logIndex.startsWith('-'))
      fail('MALFORMED_BUNDLE', 'negative tlog logIndex');
  }
  if (anchors && bundle.verificationMaterial.content.$case === 'x509CertificateChain')
    checkChain(bundle.verificationMaterial.content.x509CertificateChain.certificates, anchors);
  return { bundle, json: json as SerializedBundle };
}

function timesOf(entity: SignedEntity): { at: Date; source: VerifiedBundle['timeSource'] }[] {
  const out: { at: Date; source: VerifiedBundle['timeSource'] }[] = [];
  for (const t of entity.timestamps) {
    if (t.$case === 'timestamp-authority') out.push({ at: t.timestamp.signingTime, source: t.$case });
    else if (t.tlogEntry.integratedTime && t.tlogEntry.integratedTime !== '0')
      out.push({ at: new Date(Number(t.tlogEntry.integratedTime) * 1000), source: t.$case });
  }
  return out;
}

/** True when any timestamp falls outside the leaf certificate's validity (the usual chain failure). */
function timeOutsideLeaf(entity: SignedEntity): boolean {
  if (entity.key.$case !== 'certificate') return false;
  const leaf = entity.key.certificate;
  const from = leaf.notBefore.getTime();
  const to = leaf.notAfter.getTime();
  return timesOf(entity).some(({ at }) => at.getTime() < from || at.getTime() > to);
}

function mapLibraryError(
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
        if (/SCT/i.test(msg)) fail('SCT_INVALID', msg, d);
        if (entity && safe(() => timeOutsideLeaf(entity)))
          fail('TIMESTAMP_OUTSIDE_VALIDITY', 'signing time is outside the certificate validity', d);
        return fail('CERT_CHAIN_INVALID', msg, d);
      case 'PUBLIC_KEY_ERROR':
        if (/not valid for timestamp/.test(msg)) fail('TIMESTAMP_OUTSIDE_VALIDITY', msg, d);
        return fail('KEY_NOT_TRUSTED', msg, d);
      case 'SIGNATURE_ERROR':
        if (bundle.messageSignature && artifact?.bytes && !messageDigestMatches(bundle, artifact.bytes))
          fail('DIGEST_MISMATCH', 'artifact digest differs from the signed digest', d);
        return fail('SIGNATURE_INVALID', msg, d);
      case 'TLOG_INCLUSION_PROOF_ERROR':
        return fail('TLOG_INCLUSION_INVALID', msg, d);
      case 'TLOG_MISSING_INCLUSION_ERROR':
        return fail('TLOG_INCLUSION_MISSING', msg, d);
      case 'TLOG_INCLUSION_PROMISE_ERROR':
        return fail('TLOG_SET_INVALID', msg, d);
      case 'TLOG_BODY_ERROR':
        return fail('TLOG_ENTRY_MISMATCH', msg, d);
      case 'TIMESTAMP_ERROR':
        if (/expected \d+ timestamps/.test(msg)) fail('TIMESTAMP_MISSING', msg, d);
        return fail('TIMESTAMP_INVALID', msg, d);
      default:
        return fail('TLOG_INVALID', msg, d);
    }
  }
  // A TypeError, RangeError or ASN.1 error from the library means bytes it did not expect.
  return fail('MALFORMED_BUNDLE', `bundle could not be processed: ${(e as Error)?.message ?? String(e)}`, {
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

function messageDigestMatches(bundle: SerializedBundle, bytes: Buffer): boolean {
  const md = bundle.messageSignature?.messageDigest;
  if (!md) return true;
  const alg = HASH_BY_PROTO[md.algorithm] ?? 'sha256';
  return createHash(alg).update(bytes).digest('base64') === Buffer.from(md.digest, 'base64').toString('base64');
}

/** Decodes and shape-checks an in-toto Statement (v0.1 or v1). */
export function parseStatement(payload: Buffer): InTotoStatement {
  let s: unknown;
  try {
    s = JSON.parse(payload.toString('utf8'));
  } catch {
    return fail('STATEMENT_INVALID', 'DSSE payload is not JSON');
  }
  if (!isObject(s)) return fail('STATEMENT_INVALID', 'statement is not an object');
  if (typeof s._type !== 'string' || !s._type.startsWith('https://in-toto.io/Statement/'))
    fail('STATEMENT_INVALID', `unknown statement _type ${JSON.stringify(s._type)}`);
  if (typeof s.predicateType !== 'string') fail('STATEMENT_INVALID', 'statement has no predicateType');
  if (!Array.isArray(s.subject) || s.subject.length === 0) fail('STATEMENT_INVALID', 'statement has no subject');
  for (const sub of s.subject as unknown[]) {
    if (!isObject(sub) || !isObject(sub.digest) || !Object.values(sub.digest).every((v) => typeof v === 'string'))
      fail('STATEMENT_INVALID', 'statement subject without a digest map');
  }
  return s as unknown as InTotoStatement;
}

/** Returns the digests (hex) of `artifact` that some subject claims, or fails DIGEST_MISMATCH. */
function matchSubject(statement: InTotoStatement, artifact: ArtifactInput): { sha256?: string; sha512?: string } {
  const have: { sha256?: string; sha512?: string } = {
    ...(artifact.digests ?? {}),
    ...(artifact.bytes ? { sha256: hex('sha256', artifact.bytes), sha512: hex('sha512', artifact.bytes) } : {}),
  };
  for (const sub of statement.subject) {
    const matched: { sha256?: string; sha512?: string } = {};
    let ok = false;
    let contradicted = false;
    for (const alg of ['sha256', 'sha512'] as const) {
      const claim = sub.digest[alg]?.toLowerCase();
      const mine = have[alg]?.toLowerCase();
      if (claim === undefined || mine === undefined) continue;
      if (claim === mine) {
        ok = true;
        matched[alg] = mine;
      } else contradicted = true;
    }
    if (ok && !contradicted) return matched;
  }
  return fail('DIGEST_MISMATCH', 'no statement subject carries the artifact digest', {
    subjects: statement.subject.map((s) => s.name ?? null),
  });
}

/**
 * A verifier bound to one trusted root, parsed once. Safe to share across calls.
 * Every failure is a PluginVerificationError with a reason code.
 */
export class PluginVerifier {
  readonly #trust: TrustMaterial;
  readonly #keys: Readonly<Record<string, TrustedKey>>;
  readonly #verifier: Verifier;
  readonly #anchors: ReadonlySet<string>;

  private constructor(trust: TrustMaterial, keys: Readonly<Record<string, TrustedKey>>, anchors: ReadonlySet<string>) {
    this.#trust = trust;
    this.#keys = keys;
    this.#anchors = anchors;
    this.#verifier = new Verifier(trust);
  }

  /** From trusted_root.json (text, bytes or parsed) and optional keys by hint (e.g. npm registry keys). */
  static fromTrustedRoot(
    root: Buffer | string | unknown,
    keys: Readonly<Record<string, TrustedKey>> = {},
  ): PluginVerifier {
    let json: unknown = root;
    if (typeof root === 'string' || Buffer.isBuffer(root)) {
      try {
        json = JSON.parse(root.toString());
      } catch (e) {
        fail('TRUSTED_ROOT_INVALID', `trusted root is not JSON: ${(e as Error).message}`);
      }
    }
    checkTrustedRootShape(json);
    let trust: TrustMaterial;
    // Every CA certificate the root holds (DER hex), for the bundle chain check.
    const anchors = new Set<string>();
    try {
      const root = TrustedRoot.fromJSON(json);
      for (const ca of root.certificateAuthorities)
        for (const c of ca.certChain?.certificates ?? []) anchors.add(Buffer.from(c.rawBytes).toString('hex'));
      trust = toTrustMaterial(root, keyFinder(keys));
    } catch (e) {
      return fail('TRUSTED_ROOT_INVALID', (e as Error).message);
    }
    return new PluginVerifier(trust, keys, anchors);
  }

  /** Verifies one bundle against `artifact`; returns the verified facts or throws PluginVerificationError. */
  verify(bundleInput: Buffer | string | unknown, artifact: ArtifactInput, opts: VerifyOptions = {}): VerifiedBundle {
    const { bundle, json } = parseBundle(bundleInput, this.#anchors);
    const isDsse = bundle.content.$case === 'dsseEnvelope';
    if (!isDsse && !artifact.bytes) fail('ARTIFACT_REQUIRED', 'a message-signature bundle needs the artifact bytes');
    if (!artifact.bytes && !artifact.digests?.sha256 && !artifact.digests?.sha512)
      fail('ARTIFACT_REQUIRED', 'no artifact bytes or digest given');
    const keyed = bundle.verificationMaterial.content.$case === 'publicKey';
    if (opts.key && !keyed) fail('KEY_NOT_TRUSTED', 'a key was given but the bundle is signed with a certificate');

    let entity: SignedEntity | undefined;
    let signer: Signer;
    try {
      entity = toSignedEntity(bundle, artifact.bytes);
      const verifier =
        opts.key || opts.keys
          ? new Verifier({ ...this.#trust, publicKey: keyFinder({ ...this.#keys, ...opts.keys }, opts.key) })
          : this.#verifier;
      signer = verifier.verify(entity);
    } catch (e) {
      return mapLibraryError(e, entity, json, artifact);
    }

    // Defence in depth: the library already binds a message signature to the artifact.
    if (!isDsse && artifact.bytes && !messageDigestMatches(json, artifact.bytes))
      fail('DIGEST_MISMATCH', 'artifact digest differs from the signed digest');

    const san = signer.identity?.subjectAlternativeName;
    const issuer = signer.identity?.extensions?.issuer;
    if (opts.identity?.subjectAlternativeName !== undefined && san !== opts.identity.subjectAlternativeName)
      fail('IDENTITY_MISMATCH', `signer ${san ?? '(none)'} is not ${opts.identity.subjectAlternativeName}`, { san });
    if (opts.identity?.issuer !== undefined && issuer !== opts.identity.issuer)
      fail('ISSUER_MISMATCH', `issuer ${issuer ?? '(none)'} is not ${opts.identity.issuer}`, { issuer });

    let statement: InTotoStatement | undefined;
    let payloadType: string | undefined;
    let artifactDigest: { sha256?: string; sha512?: string };
    if (bundle.content.$case === 'dsseEnvelope') {
      payloadType = bundle.content.dsseEnvelope.payloadType;
      if (payloadType !== IN_TOTO_PAYLOAD_TYPE)
        fail('UNSUPPORTED_PAYLOAD_TYPE', `DSSE payloadType ${payloadType} is not in-toto`, { payloadType });
      statement = parseStatement(Buffer.from(bundle.content.dsseEnvelope.payload));
      artifactDigest = matchSubject(statement, artifact);
    } else {
      artifactDigest = artifact.bytes
        ? { sha256: hex('sha256', artifact.bytes), sha512: hex('sha512', artifact.bytes) }
        : { ...artifact.digests };
    }

    const times = timesOf(entity).sort((a, b) => a.at.getTime() - b.at.getTime());
    const tsa = times.find((t) => t.source === 'timestamp-authority');
    const first = tsa ?? times[0];
    if (!first) return fail('TIMESTAMP_MISSING', 'no verified signing time');
    return {
      mediaType: json.mediaType,
      content: bundle.content.$case,
      signer: {
        kind: keyed ? 'key' : 'certificate',
        ...(san !== undefined ? { subjectAlternativeName: san } : {}),
        ...(issuer !== undefined ? { issuer } : {}),
        ...(bundle.verificationMaterial.content.$case === 'publicKey'
          ? { keyHint: bundle.verificationMaterial.content.publicKey.hint }
          : {}),
        extensions: fulcioExtensions(signer),
      },
      signedAt: first.at.toISOString(),
      timeSource: first.source,
      tlog: bundle.verificationMaterial.tlogEntries.map((t) => ({
        logIndex: t.logIndex,
        kind: t.kindVersion?.kind ?? '',
        version: t.kindVersion?.version ?? '',
        ...(t.integratedTime && t.integratedTime !== '0'
          ? { integratedTime: new Date(Number(t.integratedTime) * 1000).toISOString() }
          : {}),
      })),
      artifactDigest,
      ...(payloadType !== undefined ? { payloadType } : {}),
      ...(statement !== undefined ? { statement } : {}),
    };
  }
}

/**
 * A bundle file may hold one Sigstore bundle or an npm attestations response
 * (`{attestations:[{predicateType, bundle}]}`); returns the bundles in order.
 */
export function bundlesOf(doc: Buffer | string | unknown): unknown[] {
  let json: unknown = doc;
  if (typeof doc === 'string' || Buffer.isBuffer(doc)) {
    try {
      json = JSON.parse(doc.toString());
    } catch (e) {
      return fail('MALFORMED_BUNDLE', `bundle file is not JSON: ${(e as Error).message}`);
    }
  }
  if (isObject(json) && Array.isArray(json.attestations)) {
    if (json.attestations.length === 0) fail('MALFORMED_BUNDLE', 'attestations list is empty');
    return (json.attestations as unknown[]).map((a, i) =>
      isObject(a) && a.bundle !== undefined ? a.bundle : fail('MALFORMED_BUNDLE', `attestations[${i}] has no bundle`),
    );
  }
  return [json];
}
