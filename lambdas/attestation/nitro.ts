/**
 * AWS Nitro Enclave and NitroTPM attestation documents (COSE_Sign1, RFC 9052).
 *
 * Steps, in order (the first failure names the reason):
 *  1. structure: [protected bstr, unprotected {}, payload bstr, signature bstr(96)],
 *     optionally under tag 18, no trailing bytes; protected = {1: -35} (ES384 only);
 *     payload is a map with exactly the NSM fields, of the requested kind.
 *  2. chain: cabundle[0] must BE the pinned AWS Nitro Enclaves Root G1 (by SHA-256
 *     fingerprint), each later certificate a CA signed by its predecessor, the leaf
 *     signed by the last; every certificate valid at `at`.
 *  3. signature: ES384 over Sig_structure = ["Signature1", protected, h'', payload],
 *     built around the exact received protected and payload bytes (never re-encoded).
 *  4. digest = SHA384, age bound, debug (enclave PCR0-2 all zero), PCR allowlist,
 *     parent instance (module_id) = the session's instance, nonce.
 *
 * Warm path (a ChainCache): the bundle's CAs and the leaf, once proven, are looked up
 * by the SHA-256 of their DER; their windows are still checked against `at` every
 * time, so a warm verification costs one P-384 check (the document's signature).
 */
import { verify as cryptoVerify, type KeyObject, timingSafeEqual } from 'node:crypto';
import { CborError, type CborItem, decodeCbor, encodeHead } from './cbor.ts';
import { type AttestationPolicy, DEFAULT_POLICY } from './policy.ts';
import { reject } from './reasons.ts';
import {
  type CachedCa,
  ChainCache,
  checkWindow,
  ecCurve,
  intersect,
  issuedBy,
  parseDer,
  sha256Hex,
  toHex,
} from './x509.ts';

export { ChainCache };

/** SHA-256 of the DER of AWS Nitro Enclaves Root G1 (CN=aws.nitro-enclaves, valid to 2049-10-28). */
export const NITRO_ROOT_G1_SHA256 = '641a0321a3e244efe456463195d606317ed7cdcc3c1756e09893f3c68f79bb5b';

export type NitroType = 'nitro-enclave' | 'nitrotpm';

export interface NitroClaims {
  readonly type: NitroType;
  readonly moduleId: string;
  readonly digest: 'SHA384';
  /** Milliseconds since the epoch, as the NSM reports it. */
  readonly timestamp: number;
  /** PCR index → lowercase hex. */
  readonly pcrs: Readonly<Record<string, string>>;
  /** True for a debug enclave (PCR0, PCR1 and PCR2 all zero). Always false for NitroTPM. */
  readonly debug: boolean;
  readonly publicKey: Uint8Array | null;
  readonly userData: Uint8Array | null;
  readonly nonce: Uint8Array | null;
  /** SHA-256 fingerprint of the leaf certificate. */
  readonly leafFingerprint: string;
  /** The instance module_id names (the enclave's parent, or the NitroTPM instance itself), or null. */
  readonly instanceId: string | null;
}

export interface NitroVerifyOptions {
  readonly type: NitroType;
  /** Verification time; certificate validity and document age are judged at this instant. */
  readonly at: Date;
  /** @default DEFAULT_POLICY */
  readonly policy?: AttestationPolicy;
  /** The nonce the control plane issued; the document's must equal it. */
  readonly expectedNonce?: Uint8Array;
  /**
   * The session's instance (from the control plane's records, never from the guest):
   * the instance module_id names must be this one.
   */
  readonly expectedInstanceId?: string;
  /** Warm path: CAs and leaves verified before are not re-parsed nor re-verified. */
  readonly cache?: ChainCache;
  /** Fingerprint of the trusted root. @default NITRO_ROOT_G1_SHA256 */
  readonly rootFingerprint?: string;
}

const FIELDS = new Set([
  'module_id',
  'digest',
  'timestamp',
  'pcrs',
  'nitrotpm_pcrs',
  'certificate',
  'cabundle',
  'public_key',
  'user_data',
  'nonce',
]);
const MAX_OPTIONAL_FIELD = 1024;
/** NSM module ids: `i-<instance>-enc<16 hex>` (an enclave and its parent) or `i-<instance>-tpm<16 hex>` (NitroTPM). */
const MODULE_ID_RE = /^(i-(?:[0-9a-f]{8}|[0-9a-f]{17}))-(?:enc|tpm)[0-9a-f]{16}$/;

/** The EC2 instance a module_id names, or null when it names none. */
export function instanceOfModuleId(moduleId: string): string | null {
  return MODULE_ID_RE.exec(moduleId)?.[1] ?? null;
}
const SIG_CONTEXT = Buffer.from([0x6a, ...Buffer.from('Signature1')]);

interface ParsedDoc {
  readonly protectedBytes: Uint8Array;
  readonly payloadBytes: Uint8Array;
  readonly signature: Uint8Array;
  readonly moduleId: string;
  readonly digest: string;
  readonly timestamp: number;
  readonly pcrKey: 'pcrs' | 'nitrotpm_pcrs';
  readonly pcrs: Map<number, Uint8Array>;
  readonly certificate: Uint8Array;
  readonly cabundle: Uint8Array[];
  readonly publicKey: Uint8Array | null;
  readonly userData: Uint8Array | null;
  readonly nonce: Uint8Array | null;
}

function decode(bytes: Uint8Array, what: string, maxDepth: number): CborItem {
  try {
    return decodeCbor(bytes, { maxDepth, maxBytes: 64 * 1024 });
  } catch (e) {
    if (e instanceof CborError) return reject('MALFORMED', `${what}: ${e.message}.`);
    throw e;
  }
}

function asBytes(i: CborItem | undefined, what: string): Uint8Array {
  if (i?.kind !== 'bytes' || i.indefinite) return reject('MALFORMED', `${what} must be a definite byte string.`);
  return i.value;
}

function optBytes(i: CborItem, what: string): Uint8Array | null {
  if (i.kind === 'simple' && i.value === null) return null;
  const b = asBytes(i, what);
  if (b.length > MAX_OPTIONAL_FIELD) reject('MALFORMED', `${what} is longer than ${MAX_OPTIONAL_FIELD} bytes.`);
  return b;
}

/** Parses the COSE_Sign1 envelope and the NSM payload; no cryptography yet. */
export function parseNitroDocument(bytes: Uint8Array): ParsedDoc {
  let top = decode(bytes, 'COSE_Sign1', 4);
  if (top.kind === 'tag') {
    if (top.tag !== 18) reject('MALFORMED', `unexpected CBOR tag ${String(top.tag)} (only 18, COSE_Sign1).`);
    top = top.item;
  }
  if (top.kind !== 'array' || top.items.length !== 4) reject('MALFORMED', 'COSE_Sign1 must be a 4-element array.');
  const [prot, unprot, payloadItem, sigItem] = top.items;
  const protectedBytes = asBytes(prot, 'protected header');
  const ph = decode(protectedBytes, 'protected header', 2);
  if (ph.kind !== 'map' || ph.entries.length !== 1) reject('UNSUPPORTED', 'protected header must be exactly {1: -35}.');
  const [k, v] = ph.entries[0]!;
  if (k.kind !== 'uint' || k.value !== 1) reject('UNSUPPORTED', 'protected header must be exactly {1: -35}.');
  if (v.kind !== 'nint' || v.value !== -35) reject('UNSUPPORTED', 'only ES384 (alg -35) is accepted.');
  if (unprot?.kind !== 'map' || unprot.entries.length !== 0) reject('MALFORMED', 'unprotected header must be {}.');
  const payloadBytes = asBytes(payloadItem, 'payload');
  const signature = asBytes(sigItem, 'signature');
  if (signature.length !== 96) reject('MALFORMED', 'an ES384 signature is 96 bytes (r‖s).');

  const p = decode(payloadBytes, 'payload', 4);
  if (p.kind !== 'map') return reject('MALFORMED', 'payload must be a map.');
  const f = new Map<string, CborItem>();
  for (const [key, val] of p.entries) {
    if (key.kind !== 'text') reject('MALFORMED', 'payload keys must be text.');
    if (!FIELDS.has(key.value)) reject('MALFORMED', `unknown payload field "${key.value.slice(0, 40)}".`);
    f.set(key.value, val);
  }
  const need = (name: string): CborItem => f.get(name) ?? reject('MALFORMED', `payload has no ${name}.`);
  const mid = need('module_id');
  if (mid.kind !== 'text' || mid.value.length === 0 || mid.value.length > 256)
    reject('MALFORMED', 'module_id must be non-empty text.');
  const dig = need('digest');
  if (dig.kind !== 'text') return reject('MALFORMED', 'digest must be text.');
  const ts = need('timestamp');
  if (ts.kind !== 'uint' || typeof ts.value !== 'number' || ts.value === 0)
    reject('MALFORMED', 'timestamp must be a positive integer (ms).');
  if (f.has('pcrs') === f.has('nitrotpm_pcrs'))
    reject('MALFORMED', 'payload must have exactly one of pcrs/nitrotpm_pcrs.');
  const pcrKey = f.has('pcrs') ? 'pcrs' : 'nitrotpm_pcrs';
  const pm = need(pcrKey);
  if (pm.kind !== 'map' || pm.entries.length === 0 || pm.entries.length > 32)
    reject('MALFORMED', `${pcrKey} must be a map.`);
  const pcrs = new Map<number, Uint8Array>();
  for (const [ik, iv] of pm.entries) {
    if (ik.kind !== 'uint' || typeof ik.value !== 'number' || ik.value > 31)
      reject('MALFORMED', 'PCR index must be 0-31.');
    const val = asBytes(iv, `PCR${ik.value}`);
    if (![32, 48, 64].includes(val.length)) reject('MALFORMED', `PCR${ik.value} has ${val.length} bytes.`);
    pcrs.set(ik.value, val);
  }
  const certificate = asBytes(need('certificate'), 'certificate');
  const cb = need('cabundle');
  if (cb.kind !== 'array' || cb.items.length === 0 || cb.items.length > 8)
    reject('MALFORMED', 'cabundle must be 1-8 certificates.');
  const cabundle = cb.items.map((c, i) => asBytes(c, `cabundle[${i}]`));
  const opt = (name: string) => {
    const it = f.get(name);
    return it === undefined ? null : optBytes(it, name);
  };
  return {
    protectedBytes,
    payloadBytes,
    signature,
    moduleId: (mid as { value: string }).value,
    digest: dig.value,
    timestamp: (ts as { value: number }).value,
    pcrKey,
    pcrs,
    certificate,
    cabundle,
    publicKey: opt('public_key'),
    userData: opt('user_data'),
    nonce: opt('nonce'),
  };
}

/** Sig_structure for COSE_Sign1: ["Signature1", protected, h'', payload] around the received bytes. */
export function sigStructure(protectedBytes: Uint8Array, payloadBytes: Uint8Array): Uint8Array {
  return Buffer.concat([
    Uint8Array.of(0x84),
    SIG_CONTEXT,
    encodeHead(2, protectedBytes.length),
    protectedBytes,
    Uint8Array.of(0x40),
    encodeHead(2, payloadBytes.length),
    payloadBytes,
  ]);
}

/** Verifies cabundle (root first) and returns the instance CA that must have signed the leaf. */
function verifyBundle(cabundle: Uint8Array[], at: Date, rootFp: string, cache?: ChainCache): CachedCa {
  if (cache) {
    // Warm path: every entry cached and in the same order as when it was verified.
    let prevFp = '';
    let last: CachedCa | undefined;
    for (const der of cabundle) {
      const fp = sha256Hex(der);
      const hit = cache.get(fp);
      if (!hit || hit.issuerFp !== prevFp) {
        last = undefined;
        break;
      }
      last = hit;
      prevFp = fp;
    }
    if (last) {
      checkWindow(last.window, at, 'the CA bundle is');
      return last;
    }
  }
  const certs = cabundle.map((der, i) => parseDer(der, `cabundle[${i}]`));
  const root = certs[0]!;
  if (root.fingerprint !== rootFp)
    reject(
      'CHAIN_UNTRUSTED',
      `cabundle[0] is not the pinned AWS Nitro root (sha256 ${root.fingerprint.slice(0, 16)}…).`,
    );
  if (!issuedBy(root, root)) reject('CHAIN_UNTRUSTED', 'the root certificate is not self-signed.');
  let entry: CachedCa = { cert: root, issuerFp: '', window: root };
  const verified: [string, CachedCa][] = [[root.fingerprint, entry]];
  for (let i = 0; i < certs.length; i++) {
    const c = certs[i]!;
    if (!c.x509.ca) reject('CHAIN_UNTRUSTED', `cabundle[${i}] is not a CA certificate.`);
    if (i === 0) continue;
    if (!issuedBy(c, entry.cert)) reject('CHAIN_UNTRUSTED', `cabundle[${i}] is not signed by cabundle[${i - 1}].`);
    entry = { cert: c, issuerFp: entry.cert.fingerprint, window: intersect(entry.window, c) };
    verified.push([c.fingerprint, entry]);
  }
  // Cache only after the whole bundle verified; the time is checked per use.
  if (cache) for (const [fp, e] of verified) cache.set(fp, e);
  checkWindow(entry.window, at, 'the CA bundle is');
  return entry;
}

function isAllZero(b: Uint8Array | undefined): boolean {
  if (!b) return false;
  for (const x of b) if (x !== 0) return false;
  return true;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Verifies a Nitro Enclave or NitroTPM attestation document.
 * Returns its claims, or throws AttestationError (and nothing else).
 */
export function verifyNitroDocument(bytes: Uint8Array, opts: NitroVerifyOptions): NitroClaims {
  try {
    return verifyInner(bytes, opts);
  } catch (e) {
    if ((e as Error)?.name === 'AttestationError') throw e;
    // Defence in depth for the typed-error guarantee: an OpenSSL or runtime error on
    // hostile input becomes MALFORMED rather than escaping untyped.
    return reject('MALFORMED', `unexpected failure while parsing: ${(e as Error)?.message ?? String(e)}`);
  }
}

function verifyInner(bytes: Uint8Array, opts: NitroVerifyOptions): NitroClaims {
  const policy = opts.policy ?? DEFAULT_POLICY;
  const doc = parseNitroDocument(bytes);
  const wantKey = opts.type === 'nitro-enclave' ? 'pcrs' : 'nitrotpm_pcrs';
  if (doc.pcrKey !== wantKey)
    reject('WRONG_EVIDENCE_TYPE', `the document carries ${doc.pcrKey}, so it is not a ${opts.type} document.`);

  const issuer = verifyBundle(doc.cabundle, opts.at, opts.rootFingerprint ?? NITRO_ROOT_G1_SHA256, opts.cache);
  // Keyed by the whole certificate's hash and the issuer it was proven under: nothing else is trusted.
  const leafFp = sha256Hex(doc.certificate);
  const cached = opts.cache?.getLeaf(leafFp, issuer.cert.fingerprint);
  const leaf = cached?.cert ?? parseDer(doc.certificate, 'certificate');
  if (!cached) {
    if (!issuedBy(leaf, issuer.cert))
      reject('CHAIN_UNTRUSTED', 'the leaf certificate is not signed by the last cabundle entry.');
    if (leaf.x509.ca) reject('CHAIN_UNTRUSTED', 'the leaf certificate is a CA certificate.');
  }
  checkWindow(leaf, opts.at, 'the leaf certificate is');
  if (!cached) {
    if (ecCurve(leaf.key) !== 'secp384r1') reject('UNSUPPORTED', 'the leaf key is not ECDSA P-384.');
    opts.cache?.setLeaf(leafFp, { cert: leaf, issuerFp: issuer.cert.fingerprint, window: leaf });
  }

  if (!verifySig(leaf.key, sigStructure(doc.protectedBytes, doc.payloadBytes), doc.signature))
    reject('SIGNATURE_INVALID', 'ES384 over the COSE Sig_structure does not verify with the leaf certificate.');

  if (doc.digest !== 'SHA384') reject('UNSUPPORTED', `digest "${doc.digest.slice(0, 20)}" (only SHA384).`);
  for (const [i, v] of doc.pcrs) if (v.length !== 48) reject('MALFORMED', `PCR${i} is not a SHA-384 value.`);

  if (policy.maxAgeSeconds !== undefined) {
    const age = opts.at.getTime() - doc.timestamp;
    if (age > policy.maxAgeSeconds * 1000)
      reject('TOO_OLD', `the document is ${Math.round(age / 1000)} s old (limit ${policy.maxAgeSeconds} s).`);
    if (-age > policy.clockSkewSeconds * 1000)
      reject('TIMESTAMP_IN_FUTURE', `the document is dated ${Math.round(-age / 1000)} s after the verification time.`);
  }

  let debug = false;
  if (opts.type === 'nitro-enclave') {
    for (const i of [0, 1, 2]) if (!doc.pcrs.has(i)) reject('MALFORMED', `an enclave document must have PCR${i}.`);
    debug = isAllZero(doc.pcrs.get(0)) && isAllZero(doc.pcrs.get(1)) && isAllZero(doc.pcrs.get(2));
    if (debug && !policy.allowDebug) reject('DEBUG_NOT_ALLOWED', 'PCR0, PCR1 and PCR2 are all zero (debug enclave).');
  }

  const pcrs: Record<string, string> = {};
  for (const [i, v] of [...doc.pcrs].sort((a, b) => a[0] - b[0])) pcrs[String(i)] = toHex(v)!;
  const images = opts.type === 'nitro-enclave' ? policy.enclaveImages : policy.tpmImages;
  if (images && images.length > 0) {
    const ok = images.some((img) => Object.entries(img.pcrs).every(([i, want]) => pcrs[i] === want));
    if (!ok) reject('PCR_MISMATCH', `no allowed image matches (PCR0 ${pcrs['0']?.slice(0, 16) ?? '-'}…).`);
  }

  const instanceId = instanceOfModuleId(doc.moduleId);
  if (opts.expectedInstanceId !== undefined && instanceId !== opts.expectedInstanceId)
    reject(
      'INSTANCE_MISMATCH',
      instanceId === null
        ? `module_id "${doc.moduleId.slice(0, 64)}" names no instance; the session runs on ${opts.expectedInstanceId}.`
        : `the document was made on ${instanceId} (module_id ${doc.moduleId}); the session runs on ${opts.expectedInstanceId}.`,
      { moduleId: doc.moduleId.slice(0, 256), instanceId: opts.expectedInstanceId },
    );

  if (opts.expectedNonce !== undefined && (doc.nonce === null || !sameBytes(doc.nonce, opts.expectedNonce)))
    reject('NONCE_MISMATCH', doc.nonce === null ? 'the document has no nonce.' : 'the document nonce differs.');

  return {
    type: opts.type,
    moduleId: doc.moduleId,
    digest: 'SHA384',
    timestamp: doc.timestamp,
    pcrs,
    debug,
    publicKey: doc.publicKey,
    userData: doc.userData,
    nonce: doc.nonce,
    leafFingerprint: leafFp,
    instanceId,
  };
}

function verifySig(key: KeyObject, data: Uint8Array, sig: Uint8Array): boolean {
  try {
    return cryptoVerify('sha384', data, { key, dsaEncoding: 'ieee-p1363' }, sig);
  } catch {
    return false;
  }
}
