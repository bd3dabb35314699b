/**
 * The little DER reading the X.509 parser of node:crypto does not offer:
 * a certificate's extensions by OID, and the small INTEGER and string values
 * AMD puts in them. Definite lengths only, as DER requires; anything else is
 * MALFORMED.
 */
import { reject } from './reasons.ts';

interface Tlv {
  readonly tag: number;
  readonly start: number;
  readonly end: number;
  readonly next: number;
}

/** One DER TLV at `o` (definite lengths only, as DER requires). */
function tlv(b: Uint8Array, o: number, limit: number): Tlv {
  const tag = b[o];
  let len = b[o + 1];
  if (tag === undefined || len === undefined || o + 2 > limit) return reject('MALFORMED', 'truncated DER.');
  let p = o + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 3 || p + n > limit) reject('MALFORMED', 'bad DER length.');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + (b[p + i] ?? 0);
    p += n;
  }
  if (p + len > limit) reject('MALFORMED', 'DER length exceeds its container.');
  return { tag, start: p, end: p + len, next: p + len };
}

function children(b: Uint8Array, t: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let o = t.start; o < t.end; ) {
    const c = tlv(b, o, t.end);
    out.push(c);
    o = c.next;
  }
  return out;
}

function oidString(b: Uint8Array, t: Tlv): string {
  const parts: number[] = [];
  let v = 0;
  for (let i = t.start; i < t.end; i++) {
    const x = b[i] ?? 0;
    v = v * 128 + (x & 0x7f);
    if (!(x & 0x80)) {
      if (parts.length === 0) parts.push(v < 80 ? Math.floor(v / 40) : 2, v < 80 ? v % 40 : v - 80);
      else parts.push(v);
      v = 0;
    }
  }
  return parts.join('.');
}

/** Extension OID → extnValue contents, from a DER certificate. */
export function certExtensions(der: Uint8Array): Map<string, Uint8Array> {
  const cert = tlv(der, 0, der.length);
  const tbs = children(der, cert)[0];
  if (!tbs) return reject('MALFORMED', 'certificate has no tbsCertificate.');
  const out = new Map<string, Uint8Array>();
  for (const f of children(der, tbs)) {
    if (f.tag !== 0xa3) continue;
    const seq = children(der, f)[0];
    if (!seq) break;
    for (const ext of children(der, seq)) {
      const parts = children(der, ext);
      const oid = parts[0];
      const val = parts[parts.length - 1];
      if (oid?.tag !== 0x06 || val?.tag !== 0x04) reject('MALFORMED', 'bad certificate extension.');
      out.set(oidString(der, oid), der.subarray(val.start, val.end));
    }
  }
  return out;
}

export function derUint(v: Uint8Array | undefined, what: string): number | undefined {
  if (!v) return undefined;
  const t = tlv(v, 0, v.length);
  if (t.tag !== 0x02 || t.next !== v.length || t.end - t.start > 2)
    reject('MALFORMED', `${what} is not a small INTEGER.`);
  let n = 0;
  for (let i = t.start; i < t.end; i++) n = n * 256 + (v[i] ?? 0);
  return n;
}

/** A DER string (IA5/UTF8/Printable) or, failing that, the raw bytes as text. */
export function derString(v: Uint8Array): string {
  if (v[0] === 0x16 || v[0] === 0x0c || v[0] === 0x13) {
    const t = tlv(v, 0, v.length);
    return Buffer.from(v.subarray(t.start, t.end)).toString('utf8');
  }
  return Buffer.from(v).toString('utf8');
}
