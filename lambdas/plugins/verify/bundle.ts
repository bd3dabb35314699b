/**
 * Sigstore bundles: parsing with the checks the library skips (media type, a
 * precise reason for a missing inclusion proof, negative log indexes, the chain a
 * v0.1/v0.2 bundle ships), and the files that hold several bundles.
 */
import { X509Certificate } from 'node:crypto';
import { type Bundle, bundleFromJSON, type SerializedBundle } from '@sigstore/bundle';
import { refuse } from '../errors.ts';
import { isObject } from '../json.ts';

export const BUNDLE_MEDIA_TYPES = [
  'application/vnd.dev.sigstore.bundle+json;version=0.1',
  'application/vnd.dev.sigstore.bundle+json;version=0.2',
  'application/vnd.dev.sigstore.bundle+json;version=0.3',
  'application/vnd.dev.sigstore.bundle.v0.3+json',
] as const;

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
      return refuse('MALFORMED_BUNDLE', `certificate ${i} does not parse: ${(e as Error).message}`);
    }
  });
  parsed.forEach(({ der, x }, i) => {
    if (i === 0) return;
    const selfSigned = x.subject === x.issuer && x.checkIssued(x);
    if (selfSigned && i !== parsed.length - 1)
      refuse('CERT_CHAIN_INVALID', 'bundle certificate chain has a root certificate before its end');
    if (!anchors.has(der.toString('hex')))
      refuse(
        'CERT_CHAIN_INVALID',
        selfSigned
          ? 'bundle certificate chain contains a root certificate the trusted root does not hold'
          : 'bundle certificate chain contains a CA certificate the trusted root does not hold',
      );
    const child = parsed[i - 1]?.x;
    if (child && !child.checkIssued(x))
      refuse('CERT_CHAIN_INVALID', `certificate ${i - 1} is not issued by certificate ${i}`);
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
      refuse('MALFORMED_BUNDLE', `bundle is not JSON: ${(e as Error).message}`);
    }
  }
  if (!isObject(json)) return refuse('MALFORMED_BUNDLE', 'bundle is not a JSON object');
  const mediaType = json.mediaType;
  if (typeof mediaType !== 'string' || !(BUNDLE_MEDIA_TYPES as readonly string[]).includes(mediaType))
    refuse('UNSUPPORTED_MEDIA_TYPE', `unsupported bundle media type ${JSON.stringify(mediaType)}`, { mediaType });
  let bundle: Bundle;
  try {
    bundle = bundleFromJSON(json);
  } catch (e) {
    const fields = (e as { fields?: unknown }).fields;
    const list = Array.isArray(fields) ? fields.map(String) : [];
    // v0.2+ bundles must carry an inclusion proof with a checkpoint; say so precisely.
    if (list.some((f) => f.endsWith('.inclusionProof')))
      refuse('TLOG_INCLUSION_MISSING', `${(e as Error).message}: ${list.join(', ')}`, { fields: list });
    if (list.some((f) => f.endsWith('.inclusionProof.checkpoint')))
      refuse('TLOG_INCLUSION_INVALID', `${(e as Error).message}: ${list.join(', ')}`, { fields: list });
    return refuse('MALFORMED_BUNDLE', `${(e as Error).message}${list.length ? `: ${list.join(', ')}` : ''}`, {
      fields: list,
    });
  }
  const vm = json.verificationMaterial;
  // A negative index cannot be a real log position; do not let it reach the log checks.
  const entries = isObject(vm) && Array.isArray(vm.tlogEntries) ? (vm.tlogEntries as unknown[]) : [];
  for (const e of entries) {
    if (isObject(e) && typeof e.logIndex === 'string' && e.logIndex.startsWith('-'))
      refuse('MALFORMED_BUNDLE', 'negative tlog logIndex');
  }
  if (anchors && bundle.verificationMaterial.content.$case === 'x509CertificateChain')
    checkChain(bundle.verificationMaterial.content.x509CertificateChain.certificates, anchors);
  return { bundle, json: json as SerializedBundle };
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
      return refuse('MALFORMED_BUNDLE', `bundle file is not JSON: ${(e as Error).message}`);
    }
  }
  if (isObject(json) && Array.isArray(json.attestations)) {
    if (json.attestations.length === 0) refuse('MALFORMED_BUNDLE', 'attestations list is empty');
    return (json.attestations as unknown[]).map((a, i) =>
      isObject(a) && a.bundle !== undefined ? a.bundle : refuse('MALFORMED_BUNDLE', `attestations[${i}] has no bundle`),
    );
  }
  return [json];
}
