/**
 * A strict CBOR (RFC 8949) decoder for attestation evidence.
 *
 * Why our own: COSE signatures cover the bytes exactly as received, and real Nitro
 * documents use indefinite-length maps, so a decode→re-encode round trip breaks
 * them. Every decoded item therefore carries its byte range (`start`..`end`) in the
 * input. The decoder is built for hostile input: it never allocates more than the
 * input can hold, bounds depth and item count, rejects trailing bytes, and throws
 * nothing but `CborError`.
 */
import { AidopsError } from '../shared/errors.ts';

export class CborError extends AidopsError {
  override name = 'CborError' as const;
  /** Byte offset in the input where decoding failed. */
  readonly offset: number;
  constructor(message: string, offset: number) {
    super(`${message} at byte ${offset}`, { offset });
    this.offset = offset;
  }
}

interface Span {
  /** Offset of the item's first byte (its head). */
  readonly start: number;
  /** Offset just past the item's last byte. */
  readonly end: number;
}

export type CborItem =
  | (Span & { readonly kind: 'uint'; readonly value: number | bigint })
  | (Span & { readonly kind: 'nint'; readonly value: number | bigint })
  | (Span & {
      readonly kind: 'bytes';
      readonly value: Uint8Array;
      readonly indefinite: boolean;
    })
  | (Span & { readonly kind: 'text'; readonly value: string; readonly indefinite: boolean })
  | (Span & { readonly kind: 'array'; readonly items: readonly CborItem[]; readonly indefinite: boolean })
  | (Span & {
      readonly kind: 'map';
      readonly entries: readonly (readonly [CborItem, CborItem])[];
      readonly indefinite: boolean;
    })
  | (Span & { readonly kind: 'tag'; readonly tag: number | bigint; readonly item: CborItem })
  | (Span & { readonly kind: 'simple'; readonly value: boolean | null | undefined | number })
  | (Span & { readonly kind: 'float'; readonly value: number });

export interface DecodeOptions {
  /** Maximum nesting of arrays, maps and tags. @default 16 */
  readonly maxDepth?: number;
  /** Maximum number of items in the whole input. @default 100_000 */
  readonly maxItems?: number;
  /** Maximum input size in bytes. @default 1 MiB */
  readonly maxBytes?: number;
  /** Reject maps with two keys of equal encoding. @default true */
  readonly rejectDuplicateKeys?: boolean;
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

class Reader {
  pos = 0;
  items = 0;
  readonly buf: Uint8Array;
  readonly maxDepth: number;
  readonly maxItems: number;
  readonly rejectDup: boolean;
  constructor(buf: Uint8Array, o: DecodeOptions) {
    this.buf = buf;
    this.maxDepth = o.maxDepth ?? 16;
    this.maxItems = o.maxItems ?? 100_000;
    this.rejectDup = o.rejectDuplicateKeys ?? true;
  }

  fail(msg: string, at = this.pos): never {
    throw new CborError(msg, at);
  }

  byte(): number {
    const b = this.buf[this.pos];
    if (b === undefined) this.fail('unexpected end of input');
    this.pos++;
    return b;
  }

  /** Reads the argument of a head; returns -1 for indefinite length (ai = 31). */
  arg(ai: number, at: number): number | bigint {
    if (ai < 24) return ai;
    const need = ai === 24 ? 1 : ai === 25 ? 2 : ai === 26 ? 4 : ai === 27 ? 8 : 0;
    if (need === 0) {
      if (ai === 31) return -1;
      this.fail(`reserved additional information ${ai}`, at);
    }
    if (this.pos + need > this.buf.length) this.fail('unexpected end of input');
    let v = 0;
    if (need < 8) {
      for (let i = 0; i < need; i++) v = v * 256 + (this.buf[this.pos + i] ?? 0);
      this.pos += need;
      return v;
    }
    let big = 0n;
    for (let i = 0; i < 8; i++) big = (big << 8n) | BigInt(this.buf[this.pos + i] ?? 0);
    this.pos += 8;
    return big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big;
  }

  /** A length must fit in what is left of the input, so hostile heads cannot force big allocations. */
  length(v: number | bigint, perItem: number, at: number): number {
    if (typeof v === 'bigint' || v > (this.buf.length - this.pos) / perItem) this.fail('length exceeds input', at);
    return v;
  }

  count(at: number): void {
    if (++this.items > this.maxItems) this.fail('too many items', at);
  }

  item(depth: number): CborItem {
    const start = this.pos;
    this.count(start);
    const ib = this.byte();
    const major = ib >> 5;
    const ai = ib & 0x1f;
    if (ib === 0xff) this.fail('unexpected break', start);
    switch (major) {
      case 0: {
        const v = this.arg(ai, start);
        if (v === -1) this.fail('indefinite length on an integer', start);
        return { kind: 'uint', value: v, start, end: this.pos };
      }
      case 1: {
        const v = this.arg(ai, start);
        if (v === -1) this.fail('indefinite length on an integer', start);
        const n = typeof v === 'bigint' ? -1n - v : v >= Number.MAX_SAFE_INTEGER ? -1n - BigInt(v) : -1 - v;
        return { kind: 'nint', value: n, start, end: this.pos };
      }
      case 2:
      case 3: {
        const v = this.arg(ai, start);
        let bytes: Uint8Array;
        let indefinite = false;
        if (v === -1) {
          indefinite = true;
          const chunks: Uint8Array[] = [];
          let total = 0;
          for (;;) {
            const cs = this.pos;
            const cb = this.byte();
            if (cb === 0xff) break;
            if (cb >> 5 !== major) this.fail('indefinite string chunk of another type', cs);
            this.count(cs);
            const cl = this.arg(cb & 0x1f, cs);
            if (cl === -1) this.fail('nested indefinite string chunk', cs);
            const len = this.length(cl, 1, cs);
            chunks.push(this.buf.subarray(this.pos, this.pos + len));
            this.pos += len;
            total += len;
          }
          bytes = new Uint8Array(total);
          let o = 0;
          for (const c of chunks) {
            bytes.set(c, o);
            o += c.length;
          }
        } else {
          const len = this.length(v, 1, start);
          bytes = this.buf.subarray(this.pos, this.pos + len);
          this.pos += len;
        }
        if (major === 2) return { kind: 'bytes', value: bytes, indefinite, start, end: this.pos };
        let text: string;
        try {
          text = utf8.decode(bytes);
        } catch {
          this.fail('invalid UTF-8 in text string', start);
        }
        return { kind: 'text', value: text, indefinite, start, end: this.pos };
      }
      case 4:
      case 5: {
        if (depth >= this.maxDepth) this.fail('nesting too deep', start);
        const v = this.arg(ai, start);
        const indefinite = v === -1;
        if (major === 4) {
          const items: CborItem[] = [];
          if (indefinite) {
            while (!this.isBreak()) items.push(this.item(depth + 1));
            this.pos++;
          } else {
            const n = this.length(v, 1, start);
            for (let i = 0; i < n; i++) items.push(this.item(depth + 1));
          }
          return { kind: 'array', items, indefinite, start, end: this.pos };
        }
        const entries: [CborItem, CborItem][] = [];
        const seen = this.rejectDup ? new Set<string>() : undefined;
        const add = () => {
          const k = this.item(depth + 1);
          if (seen) {
            const key = Buffer.from(this.buf.buffer, this.buf.byteOffset + k.start, k.end - k.start).toString('latin1');
            if (seen.has(key)) this.fail('duplicate map key', k.start);
            seen.add(key);
          }
          entries.push([k, this.item(depth + 1)]);
        };
        if (indefinite) {
          while (!this.isBreak()) add();
          this.pos++;
        } else {
          const n = this.length(v, 2, start);
          for (let i = 0; i < n; i++) add();
        }
        return { kind: 'map', entries, indefinite, start, end: this.pos };
      }
      case 6: {
        if (depth >= this.maxDepth) this.fail('nesting too deep', start);
        const tag = this.arg(ai, start);
        if (tag === -1) this.fail('indefinite length on a tag', start);
        const item = this.item(depth + 1);
        return { kind: 'tag', tag, item, start, end: this.pos };
      }
      default: {
        // major 7: simple values and floats
        if (ai < 20) return { kind: 'simple', value: ai, start, end: this.pos };
        if (ai === 20 || ai === 21) return { kind: 'simple', value: ai === 21, start, end: this.pos };
        if (ai === 22) return { kind: 'simple', value: null, start, end: this.pos };
        if (ai === 23) return { kind: 'simple', value: undefined, start, end: this.pos };
        if (ai === 24) {
          const s = this.byte();
          if (s < 32) this.fail('simple value encoded in two bytes below 32', start);
          return { kind: 'simple', value: s, start, end: this.pos };
        }
        const size = ai === 25 ? 2 : ai === 26 ? 4 : ai === 27 ? 8 : 0;
        if (size === 0) this.fail(`reserved additional information ${ai}`, start);
        if (this.pos + size > this.buf.length) this.fail('unexpected end of input');
        const dv = new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, size);
        const value = size === 2 ? halfToNumber(dv.getUint16(0)) : size === 4 ? dv.getFloat32(0) : dv.getFloat64(0);
        this.pos += size;
        return { kind: 'float', value, start, end: this.pos };
      }
    }
  }

  isBreak(): boolean {
    const b = this.buf[this.pos];
    if (b === undefined) this.fail('unterminated indefinite-length item');
    return b === 0xff;
  }
}

function halfToNumber(h: number): number {
  const exp = (h >> 10) & 0x1f;
  const mant = h & 0x3ff;
  const sign = h & 0x8000 ? -1 : 1;
  if (exp === 0) return sign * 2 ** -14 * (mant / 1024);
  if (exp === 31) return mant === 0 ? sign * Number.POSITIVE_INFINITY : Number.NaN;
  return sign * 2 ** (exp - 15) * (1 + mant / 1024);
}

/** Decodes exactly one CBOR item that must span the whole input (no trailing bytes). */
export function decodeCbor(input: Uint8Array, opts: DecodeOptions = {}): CborItem {
  if (!(input instanceof Uint8Array)) throw new CborError('input is not a byte array', 0);
  const maxBytes = opts.maxBytes ?? 1024 * 1024;
  if (input.length > maxBytes) throw new CborError(`input larger than ${maxBytes} bytes`, 0);
  if (input.length === 0) throw new CborError('empty input', 0);
  const r = new Reader(input, opts);
  const item = r.item(0);
  if (r.pos !== input.length) throw new CborError(`${input.length - r.pos} trailing bytes`, r.pos);
  return item;
}

/** The bytes of an item exactly as they appear in `input`. */
export function rawBytes(input: Uint8Array, item: CborItem): Uint8Array {
  return input.subarray(item.start, item.end);
}

/** Encodes a CBOR head (major type + argument) in its shortest form. */
export function encodeHead(major: number, n: number): Uint8Array {
  const m = major << 5;
  if (n < 24) return Uint8Array.of(m | n);
  if (n < 0x100) return Uint8Array.of(m | 24, n);
  if (n < 0x10000) return Uint8Array.of(m | 25, n >> 8, n & 0xff);
  if (n < 0x100000000) return Uint8Array.of(m | 26, n >>> 24, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff);
  const out = new Uint8Array(9);
  out[0] = m | 27;
  new DataView(out.buffer).setBigUint64(1, BigInt(n));
  return out;
}

/** Values the minimal encoder understands (used to build COSE Sig_structures and test inputs). */
export type Encodable =
  | number
  | string
  | Uint8Array
  | null
  | boolean
  | readonly Encodable[]
  | ReadonlyMap<Encodable, Encodable>
  | { readonly raw: Uint8Array };

/**
 * A minimal deterministic encoder (definite lengths, shortest heads). `{raw}` splices
 * already-encoded bytes verbatim, so callers can embed received items without
 * re-encoding them.
 */
export function encodeCbor(v: Encodable): Uint8Array {
  const parts: Uint8Array[] = [];
  const walk = (x: Encodable): void => {
    if (x === null) parts.push(Uint8Array.of(0xf6));
    else if (x === true) parts.push(Uint8Array.of(0xf5));
    else if (x === false) parts.push(Uint8Array.of(0xf4));
    else if (typeof x === 'number') {
      if (!Number.isSafeInteger(x)) throw new CborError('only safe integers can be encoded', 0);
      parts.push(x >= 0 ? encodeHead(0, x) : encodeHead(1, -1 - x));
    } else if (typeof x === 'string') {
      const b = Buffer.from(x, 'utf8');
      parts.push(encodeHead(3, b.length), b);
    } else if (x instanceof Uint8Array) parts.push(encodeHead(2, x.length), x);
    else if (Array.isArray(x)) {
      parts.push(encodeHead(4, x.length));
      for (const e of x) walk(e);
    } else if (x instanceof Map) {
      parts.push(encodeHead(5, x.size));
      for (const [k, e] of x) {
        walk(k);
        walk(e);
      }
    } else parts.push((x as { raw: Uint8Array }).raw);
  };
  walk(v);
  return Buffer.concat(parts);
}
