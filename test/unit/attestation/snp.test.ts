import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { verifyEvidence } from '../../../lambdas/attestation/evidence.ts';
import { AttestationPolicySchema } from '../../../lambdas/attestation/policy.ts';
import { AttestationError, type ReasonCode } from '../../../lambdas/attestation/reasons.ts';
import {
  AMD_ARK_SHA256,
  type SnpVerifyOptions,
  snpReportData,
  verifySnpReport,
} from '../../../lambdas/attestation/snp.ts';
import { parseSnpAttestationPb } from '../../../lambdas/attestation/snp-protobuf.ts';
import { ChainCache, certsFromPemOrDer, sha256Hex } from '../../../lambdas/attestation/x509.ts';
import { ALLOW_DEBUG, file, load, PB, plusSeconds, SNP } from './vectors.ts';

function reasonOf(f: () => unknown): ReasonCode | 'ACCEPTED' {
  try {
    f();
    return 'ACCEPTED';
  } catch (e) {
    assert.ok(e instanceof AttestationError, `untyped error: ${(e as Error)?.stack}`);
    return e.reason;
  }
}

const opts = (v: (typeof SNP)[number], extra: Partial<SnpVerifyOptions> = {}): SnpVerifyOptions => ({
  at: new Date(v.at),
  leafCert: file(v.leaf),
  chain: file(v.chain),
  ...(v.debug ? { policy: ALLOW_DEBUG } : {}),
  ...extra,
});

describe('SEV-SNP vectors (README verdicts)', () => {
  for (const v of SNP) {
    const report = load(v.report);
    it(`${v.report}: ${v.valid ? 'VALID' : 'INVALID (SIGNATURE_INVALID)'} inside its window`, () => {
      for (const at of [new Date(v.at), plusSeconds(v.from, 0), plusSeconds(v.to, 0)]) {
        const r = reasonOf(() => verifySnpReport(report, opts(v, { at })));
        assert.equal(r, v.valid ? 'ACCEPTED' : 'SIGNATURE_INVALID');
      }
      if (v.valid) {
        const c = verifySnpReport(report, opts(v));
        assert.equal(c.signerKind, v.kind);
        assert.equal(c.product, 'Milan');
        assert.equal(c.debug, v.debug);
      }
    });
    it(`${v.report}: CERT_EXPIRED after the signer window, CERT_NOT_YET_VALID before`, () => {
      assert.equal(
        reasonOf(() => verifySnpReport(report, opts(v, { at: plusSeconds(v.to, 1) }))),
        'CERT_EXPIRED',
      );
      assert.equal(
        reasonOf(() => verifySnpReport(report, opts(v, { at: plusSeconds(v.from, -1) }))),
        'CERT_NOT_YET_VALID',
      );
    });
    it(`${v.report}: warm path (cached ASK/ASVK) gives the same verdict`, () => {
      const cache = new ChainCache();
      for (let i = 0; i < 2; i++) {
        assert.equal(
          reasonOf(() => verifySnpReport(report, opts(v, { cache }))),
          v.valid ? 'ACCEPTED' : 'SIGNATURE_INVALID',
        );
        assert.equal(
          reasonOf(() => verifySnpReport(report, opts(v, { cache, at: plusSeconds(v.to, 1) }))),
          'CERT_EXPIRED',
        );
      }
      assert.equal(cache.size, 1);
    });
  }

  it('reported_tcb (not current_tcb) is matched: constellation 2024 has ucode 217 reported, 220 current', () => {
    const v = SNP[3]!;
    const c = verifySnpReport(load(v.report), opts(v));
    assert.equal(c.reportedTcb.microcode, 217);
    assert.equal(c.currentTcb.microcode, 220);
    assert.equal(c.cspId, 'CN=cc-eu-west-1.amazonaws.com');
  });

  it('the INVALID report fails against every VLEK here', () => {
    const bad = load(SNP[8]!.report);
    for (const leaf of [
      'sev-snp/constellation-aws-us-east-2-vlek-2023.vlek.pem',
      'sev-snp/constellation-aws-eu-west-1-vlek-2024.vlek.pem',
      'sev-snp/aws-us-east-2-vlek-2026.vlek.pem',
    ])
      assert.notEqual(
        reasonOf(() =>
          verifySnpReport(bad, { ...opts(SNP[8]!), leafCert: file(leaf), at: new Date('2025-01-01T00:00:00Z') }),
        ),
        'ACCEPTED',
      );
  });
});

describe('go-sev-guest Attestation protobufs', () => {
  for (const p of PB) {
    it(`${p.file}: rebuilds byte-for-byte to the DERIVED report and verifies with its embedded VLEK`, () => {
      const pb = parseSnpAttestationPb(file(p.file));
      assert.deepEqual(Buffer.from(pb.report), file(p.derived));
      assert.equal(pb.product, 'Milan');
      assert.deepEqual(
        Buffer.from(pb.vlekCert!),
        certsFromPemOrDer(file('sev-snp/aws-us-east-2-vlek-2026.vlek.pem'), 'x')[0],
      );
      const c = verifyEvidence({
        type: 'sev-snp',
        evidence: file(p.file),
        at: new Date('2026-06-19T21:14:03Z'),
        chain: file('roots/amd-milan-asvk-ark.pem'),
      });
      assert.equal(c.type, 'sev-snp');
    });
  }
  it('a truncated or garbled protobuf is MALFORMED', () => {
    const b = file(PB[0].file);
    assert.equal(
      reasonOf(() => parseSnpAttestationPb(b.subarray(0, 100))),
      'MALFORMED',
    );
    assert.equal(
      reasonOf(() => parseSnpAttestationPb(Buffer.from([0x0f, 0xff]))),
      'MALFORMED',
    );
  });
});

describe('SEV-SNP negative tests (README)', () => {
  const vlek = SNP[4]!;
  const vcek = SNP[1]!;

  it('flipping one bit at 0x50 fails the signature', () => {
    for (const v of SNP.filter((x) => x.valid)) {
      const r = Buffer.from(load(v.report));
      r[0x50]! ^= 1;
      assert.equal(
        reasonOf(() => verifySnpReport(r, opts(v))),
        'SIGNATURE_INVALID',
      );
    }
  });

  it('a VLEK report against the VCEK chain (ASK instead of ASVK) fails the chain', () => {
    assert.equal(
      reasonOf(() => verifySnpReport(load(vlek.report), opts(vlek, { chain: file('roots/amd-milan-ask-ark.pem') }))),
      'CHAIN_UNTRUSTED',
    );
    assert.equal(
      reasonOf(() => verifySnpReport(load(vcek.report), opts(vcek, { chain: file('roots/amd-milan-asvk-ark.pem') }))),
      'CHAIN_UNTRUSTED',
    );
    // Another product's genuine chain does not sign a Milan VLEK.
    assert.equal(
      reasonOf(() => verifySnpReport(load(vlek.report), opts(vlek, { chain: file('roots/amd-genoa-asvk-ark.pem') }))),
      'CHAIN_UNTRUSTED',
    );
  });

  it('signer_info says VLEK but a VCEK is supplied (and vice versa): WRONG_SIGNER_KIND', () => {
    assert.equal(
      reasonOf(() =>
        verifySnpReport(load(vlek.report), opts(vlek, { leafCert: file(vcek.leaf), chain: file(vcek.chain) })),
      ),
      'WRONG_SIGNER_KIND',
    );
    assert.equal(
      reasonOf(() =>
        verifySnpReport(load(vcek.report), opts(vcek, { leafCert: file(vlek.leaf), chain: file(vlek.chain) })),
      ),
      'WRONG_SIGNER_KIND',
    );
  });

  it('reported_tcb differing from the leaf SPL extensions: TCB_MISMATCH', () => {
    const r = Buffer.from(load(vlek.report));
    r[0x180 + 6]! -= 1; // snp SPL
    assert.equal(
      reasonOf(() => verifySnpReport(r, opts(vlek))),
      'TCB_MISMATCH',
    );
    // A genuine report paired with a genuine VLEK of another TCB.
    const c23 = SNP[2]!;
    assert.equal(
      reasonOf(() =>
        verifySnpReport(
          load(c23.report),
          opts(c23, { leafCert: file(SNP[3]!.leaf), at: new Date('2025-05-06T00:00:00Z') }),
        ),
      ),
      'TCB_MISMATCH',
    );
  });

  it("a VCEK's hwID must equal chip_id", () => {
    const r = Buffer.from(load(vcek.report));
    r[0x1a0]! ^= 1;
    assert.equal(
      reasonOf(() => verifySnpReport(r, opts(vcek))),
      'CHIP_ID_MISMATCH',
    );
  });

  it('the DEBUG policy bit (go-sev-guest report) fails the default policy, passes allowDebug', () => {
    const v = SNP[0]!;
    assert.equal(
      reasonOf(() => verifySnpReport(load(v.report), { ...opts(v), policy: undefined })),
      'DEBUG_NOT_ALLOWED',
    );
    assert.equal(verifySnpReport(load(v.report), opts(v)).debug, true);
  });

  it('reserved bytes must be zero, even outside the signed region', () => {
    for (const off of [0x04c, 0x19f, 0x208, 0x2a0 + 60, 0x2e8 + 71, 0x400]) {
      const r = Buffer.from(load(vlek.report));
      r[off]! ^= 0x80;
      assert.equal(
        reasonOf(() => verifySnpReport(r, opts(vlek))),
        'MALFORMED',
        `offset 0x${off.toString(16)}`,
      );
    }
    assert.equal(
      reasonOf(() => verifySnpReport(load(vlek.report).subarray(0, 1183), opts(vlek))),
      'MALFORMED',
    );
  });

  it('an unsupported version is rejected', () => {
    const r = Buffer.from(load(vlek.report));
    r[0] = 4;
    assert.equal(
      reasonOf(() => verifySnpReport(r, opts(vlek))),
      'UNSUPPORTED',
    );
  });

  it('an ARK that is not pinned is CHAIN_UNTRUSTED; the pinned ARKs are the roots in testdata', () => {
    for (const [product, fp] of Object.entries(AMD_ARK_SHA256)) {
      const ark = certsFromPemOrDer(file(`roots/amd-${product.toLowerCase()}-ask-ark.pem`), 'x')[1]!;
      assert.equal(sha256Hex(ark), fp);
    }
    const asvk = certsFromPemOrDer(file(vlek.chain), 'x')[0]!;
    assert.equal(
      reasonOf(() => verifySnpReport(load(vlek.report), opts(vlek, { chain: [asvk, asvk] }))),
      'CHAIN_UNTRUSTED',
    );
  });
});

describe('SEV-SNP policy and binding', () => {
  const v = SNP[5]!; // confidior v5, vmpl 1
  const r = load(v.report);
  const P = (p: object) => AttestationPolicySchema.parse(p);

  it('TCB floor per component', () => {
    verifySnpReport(r, opts(v, { policy: P({ tcbFloor: { bootloader: 4, tee: 0, snp: 29, microcode: 222 } }) }));
    assert.equal(
      reasonOf(() => verifySnpReport(r, opts(v, { policy: P({ tcbFloor: { microcode: 223 } }) }))),
      'TCB_BELOW_FLOOR',
    );
    assert.equal(
      reasonOf(() => verifySnpReport(r, opts(v, { policy: P({ tcbFloor: { snp: 30 } }) }))),
      'TCB_BELOW_FLOOR',
    );
  });

  it('measurement allowlist', () => {
    const m = '507e82d27ea5b951dd765a3eb31ba5f582673b301d6983ded482d3feb066cb68979f1f11fede97687374d3a25002a15f';
    verifySnpReport(r, opts(v, { policy: P({ measurements: [m.toUpperCase()] }) }));
    assert.equal(
      reasonOf(() => verifySnpReport(r, opts(v, { policy: P({ measurements: ['00'.repeat(48)] }) }))),
      'MEASUREMENT_MISMATCH',
    );
  });

  it('VMPL policy', () => {
    verifySnpReport(r, opts(v, { policy: P({ vmpls: [1] }) }));
    assert.equal(
      reasonOf(() => verifySnpReport(r, opts(v, { policy: P({ vmpls: [0] }) }))),
      'VMPL_MISMATCH',
    );
  });

  it('report_data binding: exact value passes, any other is NONCE_MISMATCH', () => {
    const rd = r.subarray(0x50, 0x90);
    verifySnpReport(r, opts(v, { expectedReportData: rd }));
    assert.equal(
      reasonOf(() => verifySnpReport(r, opts(v, { expectedReportData: randomBytes(64) }))),
      'NONCE_MISMATCH',
    );
  });

  it('snpReportData = SHA-512(nonce ‖ SPKI DER)', () => {
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-384' });
    const spki = publicKey.export({ format: 'der', type: 'spki' });
    const nonce = randomBytes(32);
    const expect = (async () => Buffer.from(await crypto.subtle.digest('SHA-512', Buffer.concat([nonce, spki]))))();
    return expect.then((e) => assert.deepEqual(Buffer.from(snpReportData(nonce, spki)), e));
  });
});
