/** fast-check mutations of real evidence: bit flips, truncation, insertion, overwrite, random bytes. */
import fc from 'fast-check';

export type Mutation =
  | { readonly op: 'flip'; readonly pos: number; readonly bit: number }
  | { readonly op: 'truncate'; readonly len: number }
  | { readonly op: 'insert'; readonly pos: number; readonly bytes: Uint8Array }
  | { readonly op: 'overwrite'; readonly pos: number; readonly bytes: Uint8Array }
  | { readonly op: 'random'; readonly bytes: Uint8Array };

// Unbiased: fast-check's default bias would pile positions onto the first bytes (the CBOR head).
const FRAC = fc.noBias(fc.integer({ min: 0, max: 999_999 })).map((n) => n / 1_000_000);

/** `frac` positions are scaled to each input's length, so one arbitrary fits every vector. */
export const mutation: fc.Arbitrary<{ m: Mutation; frac: number }> = fc.oneof(
  fc.record({
    m: fc.record({ op: fc.constant('flip' as const), pos: fc.constant(0), bit: fc.integer({ min: 0, max: 7 }) }),
    frac: FRAC,
  }),
  fc.record({ m: fc.record({ op: fc.constant('truncate' as const), len: fc.constant(0) }), frac: FRAC }),
  fc.record({
    m: fc.record({
      op: fc.constant('insert' as const),
      pos: fc.constant(0),
      bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }),
    }),
    frac: FRAC,
  }),
  fc.record({
    m: fc.record({
      op: fc.constant('overwrite' as const),
      pos: fc.constant(0),
      bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }),
    }),
    frac: FRAC,
  }),
  fc.record({
    m: fc.record({ op: fc.constant('random' as const), bytes: fc.uint8Array({ minLength: 0, maxLength: 1500 }) }),
    frac: fc.constant(0),
  }),
);

/** Applies a mutation; returns undefined when it would leave the input unchanged. */
export function apply(input: Uint8Array, { m, frac }: { m: Mutation; frac: number }): Uint8Array | undefined {
  const at = Math.min(input.length - 1, Math.floor(frac * input.length));
  const out = Buffer.from(input);
  switch (m.op) {
    case 'flip':
      out[at]! ^= 1 << m.bit;
      return out;
    case 'truncate':
      return out.subarray(0, at);
    case 'insert': {
      const p = Math.floor(frac * (input.length + 1));
      return Buffer.concat([out.subarray(0, p), m.bytes, out.subarray(p)]);
    }
    case 'overwrite': {
      const end = Math.min(input.length, at + m.bytes.length);
      const changed = m.bytes.subarray(0, end - at).some((b, i) => b !== out[at + i]);
      out.set(m.bytes.subarray(0, end - at), at);
      return changed ? out : undefined;
    }
    case 'random':
      return Buffer.from(m.bytes).equals(Buffer.from(input)) ? undefined : Buffer.from(m.bytes);
  }
}
