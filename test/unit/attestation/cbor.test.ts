import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { CborError, decodeCbor, encodeCbor, rawBytes } from '../../../lambdas/attestation/cbor.ts';

const hex = (s: string) => Buffer.from(s, 'hex');
const code = (f: () => unknown) => {
  try {
    f();
    return 'ok';
  } catch (e) {
    assert.ok(e instanceof CborError, `untyped: ${(e as Error)?.stack}`);
    return 'CborError';
  }
};

describe('strict CBOR decoder', () => {
  it('decodes integers, negatives, strings, arrays, maps, tags, simple values and floats', () => {
    const m = decodeCbor(
      hex(
        'a3016161386223a0f6fb3ff8000000000000'.slice(0, 2) +
          '03' +
          '61' +
          '61' +
          '3822' +
          '0a' +
          'd8' +
          '12' +
          '80' +
          'f9' +
          '3c00',
      ),
    );
    assert.equal(m.kind, 'map');
    assert.deepEqual(decodeCbor(hex('1bffffffffffffffff')), {
      kind: 'uint',
      value: 0xffffffffffffffffn,
      start: 0,
      end: 9,
    });
    assert.equal((decodeCbor(hex('3822')) as { value: number }).value, -35);
    assert.equal((decodeCbor(hex('f93c00')) as { value: number }).value, 1);
    assert.equal((decodeCbor(hex('fa47c35000')) as { value: number }).value, 100000);
    assert.equal((decodeCbor(hex('f5')) as { value: boolean }).value, true);
    assert.equal((decodeCbor(hex('d2' + '80')) as { tag: number }).tag, 18);
  });

  it('indefinite-length maps, arrays and chunked strings keep exact byte ranges', () => {
    const input = hex('bf' + '6161' + '9f0102ff' + '6162' + '5f42010243030405ff' + 'ff');
    const m = decodeCbor(input);
    assert.equal(m.kind, 'map');
    if (m.kind !== 'map') return;
    assert.equal(m.indefinite, true);
    assert.deepEqual(Buffer.from(rawBytes(input, m)), input);
    const [, arr] = m.entries[0]!;
    assert.deepEqual(Buffer.from(rawBytes(input, arr)), hex('9f0102ff'));
    const [, bs] = m.entries[1]!;
    assert.equal(bs.kind, 'bytes');
    if (bs.kind === 'bytes') assert.deepEqual(Buffer.from(bs.value), hex('0102030405'));
  });

  it('rejects trailing bytes, truncation, reserved heads, stray breaks and bad chunks', () => {
    for (const bad of [
      '0000',
      '19',
      '5a00000010',
      '1c',
      'ff',
      '5f4101' /* unterminated */,
      '5f6161ff',
      '7f5f41ff',
      'f818',
      '9f',
      'bf01',
    ]) {
      assert.equal(
        code(() => decodeCbor(hex(bad))),
        'CborError',
        bad,
      );
    }
    assert.equal(
      code(() => decodeCbor(new Uint8Array())),
      'CborError',
    );
  });

  it('rejects invalid UTF-8, duplicate keys, deep nesting and oversized inputs', () => {
    assert.equal(
      code(() => decodeCbor(hex('62c328'))),
      'CborError',
    );
    assert.equal(
      code(() => decodeCbor(hex('a201020103'))),
      'CborError',
    );
    assert.equal(
      code(() => decodeCbor(Buffer.alloc(40, 0x81).fill(0, 39))),
      'CborError',
    );
    assert.equal(
      code(() => decodeCbor(Buffer.alloc(20, 0x81).fill(0, 19), { maxDepth: 32 })),
      'ok',
    );
    assert.equal(
      code(() => decodeCbor(Buffer.alloc(100), { maxBytes: 10 })),
      'CborError',
    );
  });

  it('never allocates what the input cannot hold (huge declared lengths fail fast)', () => {
    assert.equal(
      code(() => decodeCbor(hex('5bffffffffffffffff'))),
      'CborError',
    );
    assert.equal(
      code(() => decodeCbor(hex('9bffffffffffffffff'))),
      'CborError',
    );
    assert.equal(
      code(() => decodeCbor(hex('ba7fffffff00'))),
      'CborError',
    );
  });

  it('round-trips the minimal encoder', () => {
    const v = encodeCbor(new Map<string, unknown>([['a', [1, -35, Buffer.from('xy'), null, true]]]) as never);
    const d = decodeCbor(v);
    assert.equal(d.kind, 'map');
  });

  it('20,000 random inputs: only CborError, never another exception', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (b) => {
        code(() => decodeCbor(b));
      }),
      { numRuns: 20_000 },
    );
  });
});
