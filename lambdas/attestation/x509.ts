/**
 * Certificate helpers shared by the Nitro and SEV-SNP verifiers: parsing that
 * fails with MALFORMED instead of an OpenSSL error, SHA-256 fingerprints (the only
 * thing pinned in code), and validity windows checked against a caller-supplied
 * time (never the wall clock: certificates in evidence expire within hours).
 */
import { hash, type KeyObject, X509Certificate } from 'node:crypto';
import { reject } from './reasons.ts';

export interface ParsedCert {
  readonly der: Uint8Array;
  readonly x509: X509Certificate;
  readonly key: KeyObject;
  /** SHA-256 of the DER, lowercase hex. */
  readonly fingerprint: string;
  readonly notBefore: number;
  readonly notAfter: number;
}

export function sha256Hex(b: Uint8Array): string {
  return hash('sha256', b, 'hex');
}

/** A validity window [notBefore, notAfter] in epoch ms; chains intersect their members'. */
export interface Window {
  readonly notBefore: number;
  readonly notAfter: number;
}

export function intersect(a: Window, b: Window): Window {
  return { notBefore: Math.max(a.notBefore, b.notBefore), notAfter: Math.min(a.notAfter, b.notAfter) };
}

export function checkWindow(w: Window, at: Date, what: string): void {
  const t = at.getTime();
  if (t < w.notBefore) reject('CERT_NOT_YET_VALID', `${what} valid from ${new Date(w.notBefore).toISOString()}.`);
  if (t > w.notAfter) reject('CERT_EXPIRED', `${what} valid until ${new Date(w.notAfter).toISOString()}.`);
}

/** Parses one DER certificate; `what` names it in the rejection message. */
export function parseDer(der: Uint8Array, what: string): ParsedCert {
  // OpenSSL ignores bytes after the certificate; we do not: the bytes received are the bytes checked.
  if (derLength(der) !== der.length)
    reject('MALFORMED', `${what} is not exactly one DER certificate (length or trailing bytes).`);
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(der);
  } catch {
    return reject('MALFORMED', `${what} is not a DER X.509 certificate.`);
  }
  const notBefore = x509.validFromDate.getTime();
  const notAfter = x509.validToDate.getTime();
  if (!Number.isFinite(notBefore) || !Number.isFinite(notAfter)) reject('MALFORMED', `${what} has no validity.`);
  return { der, x509, key: x509.publicKey, fingerprint: sha256Hex(der), notBefore, notAfter };
}

/** Total length of the outer DER SEQUENCE (header + content), or -1 if it is not one. */
function derLength(b: Uint8Array): number {
  if (b.length < 2 || b[0] !== 0x30) return -1;
  const first = b[1]!;
  if (first < 0x80) return 2 + first;
  const n = first & 0x7f;
  if (n === 0 || n > 4 || b.length < 2 + n) return -1;
  let len = 0;
  for (let i = 0; i < n; i++) len = len * 256 + b[2 + i]!;
  return 2 + n + len;
}

const PEM_RE = /-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+?)-----END CERTIFICATE-----/g;

/** DER certificates from a PEM bundle, in file order; raw DER input is returned as one certificate. */
export function certsFromPemOrDer(input: Uint8Array, what: string): Uint8Array[] {
  if (input[0] === 0x30) return [input];
  const text = Buffer.from(input).toString('latin1');
  const out: Uint8Array[] = [];
  for (const m of text.matchAll(PEM_RE)) out.push(Buffer.from((m[1] ?? '').replace(/\s+/g, ''), 'base64'));
  if (out.length === 0) reject('MALFORMED', `${what} contains no certificate (expected DER or PEM).`);
  return out;
}

/** `child` is signed by `issuer`, and the names chain. */
export function issuedBy(child: ParsedCert, issuer: ParsedCert): boolean {
  try {
    return child.x509.checkIssued(issuer.x509) && child.x509.verify(issuer.key);
  } catch {
    return false;
  }
}

/** The CN of a subject as node:crypto prints it (one `KEY=value` per line), or ''. */
export function commonName(subject: string): string {
  return /(?:^|\n)CN=([^\n]*)/.exec(subject)?.[1] ?? '';
}

export function ecCurve(key: KeyObject): string | undefined {
  return key.asymmetricKeyType === 'ec' ? key.asymmetricKeyDetails?.namedCurve : undefined;
}

export function toHex(b: Uint8Array | null | undefined): string | null {
  return b ? Buffer.from(b.buffer, b.byteOffset, b.length).toString('hex') : null;
}

export interface CachedCa {
  readonly cert: ParsedCert;
  /** Fingerprint of the certificate that signed this one ('' for the root). */
  readonly issuerFp: string;
  /** Intersection of the validity of this certificate and every ancestor. */
  readonly window: Window;
}

/** A bounded map that forgets the least recently used entry first. */
class Lru<V> {
  readonly #m = new Map<string, V>();
  readonly max: number;
  constructor(max: number) {
    this.max = max;
  }
  get(k: string): V | undefined {
    const v = this.#m.get(k);
    if (v !== undefined) {
      // Re-insert: a Map iterates in insertion order, so the first key is the least recently used.
      this.#m.delete(k);
      this.#m.set(k, v);
    }
    return v;
  }
  set(k: string, v: V): void {
    if (this.max <= 0) return;
    this.#m.delete(k);
    if (this.#m.size >= this.max) this.#m.delete(this.#m.keys().next().value as string);
    this.#m.set(k, v);
  }
  get size(): number {
    return this.#m.size;
  }
  clear(): void {
    this.#m.clear();
  }
}

export interface ChainCacheOptions {
  /** CA certificates (root, regional, zonal, instance; AMD ASK/ASVK) kept. @default 4096 */
  readonly maxEntries?: number;
  /**
   * Nitro leaf certificates kept (0 turns the leaf cache off). An enclave or NitroTPM signs every
   * document of its life with one leaf, so a warm verification needs only the document's signature.
   * @default 4096
   */
  readonly maxLeaves?: number;
}

/**
 * Certificates proven to chain to the pinned root, keyed by the SHA-256 of their DER
 * (never by subject or key: a different certificate is a different entry). CAs and
 * leaves live apart, so a leaf can never stand in for a CA. A hit still re-checks the
 * time window against the verification time and that the issuer it was proven under
 * is the issuer presented now, so warm and cold give the same verdict. Both are LRU-bounded.
 */
export class ChainCache {
  readonly #cas: Lru<CachedCa>;
  readonly #leaves: Lru<CachedCa>;
  /** Leaf lookups answered from the cache (for tests and benchmarks). */
  leafHits = 0;
  constructor(opts: ChainCacheOptions = {}) {
    this.#cas = new Lru(opts.maxEntries ?? 4096);
    this.#leaves = new Lru(opts.maxLeaves ?? 4096);
  }
  get(fp: string): CachedCa | undefined {
    return this.#cas.get(fp);
  }
  set(fp: string, v: CachedCa): void {
    this.#cas.set(fp, v);
  }
  /** A leaf verified before under `issuerFp`, or undefined. */
  getLeaf(fp: string, issuerFp: string): CachedCa | undefined {
    const hit = this.#leaves.get(fp);
    if (!hit || hit.issuerFp !== issuerFp) return undefined;
    this.leafHits++;
    return hit;
  }
  setLeaf(fp: string, v: CachedCa): void {
    this.#leaves.set(fp, v);
  }
  /** CA entries held. */
  get size(): number {
    return this.#cas.size;
  }
  get leafCount(): number {
    return this.#leaves.size;
  }
  clear(): void {
    this.#cas.clear();
    this.#leaves.clear();
  }
}
