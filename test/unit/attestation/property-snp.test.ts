/** ≥ 10,000 mutated SEV-SNP reports (and protobufs): none accepted, none throws anything but AttestationError. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { verifyEvidence } from '../../../lambdas/attestation/evidence.ts';
import { AttestationError } from '../../../lambdas/attestation/reasons.ts';
import { verifySnpReport } from '../../../lambdas/attestation/snp.ts';
import { ChainCache } from '../../../lambdas/attestation/x509.ts';
import { apply, mutation } from './mutations.ts';
import { ALLOW_DEBUG, file, load, PB, SNP } from './vectors.ts';

const RUNS = 10_000;

describe('sev-snp mutations', () => {
  const reports = SNP.filter((v) => v.valid).map((v) => ({
    bytes: load(v.report),
    leaf: file(v.leaf),
    chain: file(v.chain),
    at: new Date(v.at),
  }));
  const cache = new ChainCache();

  it(`${RUNS} mutated reports are all rejected with AttestationError`, () => {
    const seen = new Map<string, number>();
    fc.assert(
      fc.property(fc.integer({ min: 0, max: reports.length - 1 }), mutation, (i, mu) => {
        const r = reports[i]!;
        const mutated = apply(r.bytes, mu);
        if (!mutated) return;
        try {
          verifySnpReport(mutated, { at: r.at, leafCert: r.leaf, chain: r.chain, policy: ALLOW_DEBUG, cache });
        } catch (e) {
          assert.ok(e instanceof AttestationError, `untyped ${(e as Error)?.name}: ${(e as Error)?.message}`);
          seen.set(e.reason, (seen.get(e.reason) ?? 0) + 1);
          return;
        }
        assert.fail(`accepted a mutated report (${mu.m.op} at ${mu.frac})`);
      }),
      { numRuns: RUNS },
    );
    if (process.env.SHOW_REASONS) console.log('snp', JSON.stringify([...seen]));
    assert.ok((seen.get('SIGNATURE_INVALID') ?? 0) > 100, JSON.stringify([...seen]));
  });

  it('2,000 mutated leaf certificates never verify and never throw untyped', () => {
    const r = reports[0]!;
    fc.assert(
      fc.property(mutation, (mu) => {
        const leaf = apply(r.leaf, mu);
        if (!leaf) return;
        try {
          verifySnpReport(r.bytes, { at: r.at, leafCert: leaf, chain: r.chain, policy: ALLOW_DEBUG, cache });
        } catch (e) {
          assert.ok(e instanceof AttestationError, `untyped ${(e as Error)?.name}: ${(e as Error)?.message}`);
          return;
        }
        // A flip in an unsigned-by-nobody part cannot exist: the whole TBS is signed by the ASK.
        assert.fail(`accepted a mutated leaf (${mu.m.op} at ${mu.frac})`);
      }),
      { numRuns: 2_000 },
    );
  });

  it('2,000 mutated go-sev-guest protobufs never throw untyped', () => {
    const pb = file(PB[0].file);
    const chain = file('roots/amd-milan-asvk-ark.pem');
    const at = new Date('2026-06-19T21:14:03Z');
    const g = verifyEvidence({ type: 'sev-snp', evidence: pb, at, chain });
    const genuineId = g.type === 'sev-snp' && g.reportId;
    fc.assert(
      fc.property(mutation, (mu) => {
        const m = apply(pb, mu);
        if (!m) return;
        let claims: ReturnType<typeof verifyEvidence>;
        try {
          claims = verifyEvidence({ type: 'sev-snp', evidence: m, at, chain, cache });
        } catch (e) {
          assert.ok(e instanceof AttestationError, `untyped ${(e as Error)?.name}: ${(e as Error)?.message}`);
          return;
        }
        // A protobuf is a container, not the signed object: a mutation in a part the rebuild ignores
        // (e.g. the product field) may verify, but only if the rebuilt signed report is the genuine one.
        assert.equal(claims.type === 'sev-snp' && claims.reportId, genuineId);
      }),
      { numRuns: 2_000 },
    );
  });
});
