/** ≥ 10,000 mutated Nitro documents per type: none accepted, none throws anything but AttestationError. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ChainCache, verifyNitroDocument } from '../../../lambdas/attestation/nitro.ts';
import { AttestationError } from '../../../lambdas/attestation/reasons.ts';
import { apply, mutation } from './mutations.ts';
import { ALLOW_DEBUG, load, NITRO } from './vectors.ts';

const RUNS = 10_000;

for (const type of ['nitro-enclave', 'nitrotpm'] as const) {
  describe(`${type} mutations`, () => {
    const docs = NITRO.filter((v) => v.type === type).map((v) => ({ bytes: load(v.file), at: new Date(v.timestamp) }));
    const cache = new ChainCache();
    it(`${RUNS} mutated documents are all rejected with AttestationError`, () => {
      const seen = new Map<string, number>();
      fc.assert(
        fc.property(fc.integer({ min: 0, max: docs.length - 1 }), mutation, (i, mu) => {
          const d = docs[i]!;
          const mutated = apply(d.bytes, mu);
          if (!mutated) return;
          try {
            verifyNitroDocument(mutated, { type, at: d.at, policy: ALLOW_DEBUG, cache });
          } catch (e) {
            assert.ok(e instanceof AttestationError, `untyped ${(e as Error)?.name}: ${(e as Error)?.message}`);
            seen.set(e.reason, (seen.get(e.reason) ?? 0) + 1);
            return;
          }
          assert.fail(`accepted a mutated document (${JSON.stringify(mu.m.op)} at ${mu.frac})`);
        }),
        { numRuns: RUNS },
      );
      if (process.env.SHOW_REASONS) console.log(type, JSON.stringify([...seen]));
      // The mutations reach past the parser into the cryptographic checks.
      assert.ok((seen.get('SIGNATURE_INVALID') ?? 0) > 100, JSON.stringify([...seen]));
      assert.ok((seen.get('MALFORMED') ?? 0) > 100, JSON.stringify([...seen]));
    });
  });
}
