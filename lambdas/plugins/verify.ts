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
 * Each of those is a module of ./verify/; `PluginVerifier` composes them.
 *
 * A `PluginVerifier` parses the trusted root once and is reused (warm Lambda).
 */
// Transitive dependency of @sigstore/verify (same pinned tree); the only public
// parser from trusted_root.json to the TrustedRoot that toTrustMaterial takes.
import { TrustedRoot } from '@sigstore/protobuf-specs';
import {
  type SignedEntity,
  type Signer,
  type TrustMaterial,
  toSignedEntity,
  toTrustMaterial,
  Verifier,
} from '@sigstore/verify';
import { refuse } from './errors.ts';
import { type ArtifactInput, hex, messageDigestMatches } from './verify/artifact.ts';
import { parseBundle } from './verify/bundle.ts';
import { type FulcioExtensions, fulcioExtensions } from './verify/fulcio.ts';
import { mapLibraryError } from './verify/library-errors.ts';
import { type TimeSource, timesOf } from './verify/signed-entity.ts';
import { IN_TOTO_PAYLOAD_TYPE, type InTotoStatement, matchSubject, parseStatement } from './verify/statement.ts';
import { checkTrustedRootShape, keyFinder, type TrustedKey } from './verify/trust.ts';

export type { ArtifactInput } from './verify/artifact.ts';
export { bundlesOf } from './verify/bundle.ts';
export type { FulcioExtensions } from './verify/fulcio.ts';
export type { InTotoStatement } from './verify/statement.ts';
export { npmRegistryKeys, type TrustedKey, trustedKeyFromPem } from './verify/trust.ts';

/** cosign's `--certificate-identity` / `--certificate-oidc-issuer`: exact string equality. */
export interface ExpectedIdentity {
  readonly subjectAlternativeName?: string;
  readonly issuer?: string;
}

export interface VerifyOptions {
  /** Checked exactly (no regex): a mismatch is IDENTITY_MISMATCH / ISSUER_MISMATCH. */
  readonly identity?: ExpectedIdentity;
  /** Keys by bundle hint (keyId), added to the verifier's own keys for this call. */
  readonly keys?: Readonly<Record<string, TrustedKey>>;
  /** cosign `--key`: the one key a key-signed bundle must verify with, whatever its hint. */
  readonly key?: TrustedKey;
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
  readonly timeSource: TimeSource;
  readonly tlog: readonly { logIndex: string; kind: string; version: string; integratedTime?: string }[];
  /** Artifact digests that matched the signed content (hex). */
  readonly artifactDigest: Readonly<{ sha256?: string; sha512?: string }>;
  readonly payloadType?: string;
  readonly statement?: InTotoStatement;
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
        refuse('TRUSTED_ROOT_INVALID', `trusted root is not JSON: ${(e as Error).message}`);
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
      return refuse('TRUSTED_ROOT_INVALID', (e as Error).message);
    }
    return new PluginVerifier(trust, keys, anchors);
  }

  /** Verifies one bundle against `artifact`; returns the verified facts or throws PluginVerificationError. */
  verify(bundleInput: Buffer | string | unknown, artifact: ArtifactInput, opts: VerifyOptions = {}): VerifiedBundle {
    const { bundle, json } = parseBundle(bundleInput, this.#anchors);
    const isDsse = bundle.content.$case === 'dsseEnvelope';
    if (!isDsse && !artifact.bytes) refuse('ARTIFACT_REQUIRED', 'a message-signature bundle needs the artifact bytes');
    if (!artifact.bytes && !artifact.digests?.sha256 && !artifact.digests?.sha512)
      refuse('ARTIFACT_REQUIRED', 'no artifact bytes or digest given');
    const keyed = bundle.verificationMaterial.content.$case === 'publicKey';
    if (opts.key && !keyed) refuse('KEY_NOT_TRUSTED', 'a key was given but the bundle is signed with a certificate');

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
      refuse('DIGEST_MISMATCH', 'artifact digest differs from the signed digest');

    const san = signer.identity?.subjectAlternativeName;
    const issuer = signer.identity?.extensions?.issuer;
    if (opts.identity?.subjectAlternativeName !== undefined && san !== opts.identity.subjectAlternativeName)
      refuse('IDENTITY_MISMATCH', `signer ${san ?? '(none)'} is not ${opts.identity.subjectAlternativeName}`, { san });
    if (opts.identity?.issuer !== undefined && issuer !== opts.identity.issuer)
      refuse('ISSUER_MISMATCH', `issuer ${issuer ?? '(none)'} is not ${opts.identity.issuer}`, { issuer });

    let statement: InTotoStatement | undefined;
    let payloadType: string | undefined;
    let artifactDigest: { sha256?: string; sha512?: string };
    if (bundle.content.$case === 'dsseEnvelope') {
      payloadType = bundle.content.dsseEnvelope.payloadType;
      if (payloadType !== IN_TOTO_PAYLOAD_TYPE)
        refuse('UNSUPPORTED_PAYLOAD_TYPE', `DSSE payloadType ${payloadType} is not in-toto`, { payloadType });
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
    if (!first) return refuse('TIMESTAMP_MISSING', 'no verified signing time');
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
