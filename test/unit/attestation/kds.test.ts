/**
 * The pure parts of the AMD KDS client: URLs, chain verification before caching,
 * product detection, and the real fetcher's error mapping (with a stand-in fetch).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AMD_PRODUCTS, certChainUrl, httpFetcher, KdsError, vcekUrl } from '../../../lambdas/attestation/kds-client.ts';
import { productsOfReport } from '../../../lambdas/attestation/kds-source.ts';
import { verifyKdsChain } from '../../../lambdas/attestation/kds-verify.ts';
import { AMD_ARK_SHA256, decodeTcb } from '../../../lambdas/attestation/snp.ts';
import { TransientError } from '../../../lambdas/shared/errors.ts';
import { file, load } from './vectors.ts';

const NOW = new Date('2026-01-01T00:00:00Z');
const chainFile = (p: string, kind: 'vcek' | 'vlek') =>
  file(`roots/amd-${p.toLowerCase()}-${kind === 'vcek' ? 'ask' : 'asvk'}-ark.pem`);

function kdsReason(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof KdsError, `expected KdsError, got ${(e as Error)?.name}: ${(e as Error)?.message}`);
    return e.reason;
  }
  return 'accepted';
}

describe('KDS URLs', () => {
  it('cert_chain URLs per product and kind', () => {
    assert.equal(certChainUrl('Milan', 'vcek'), 'https://kdsintf.amd.com/vcek/v1/Milan/cert_chain');
    assert.equal(certChainUrl('Turin', 'vlek'), 'https://kdsintf.amd.com/vlek/v1/Turin/cert_chain');
  });

  it('the VCEK URL of the virtee Milan report: full 64-byte hwid, reported_tcb SPLs', () => {
    const r = load('sev-snp/virtee-milan-vcek-2023.report.hex');
    const chip = r.subarray(0x1a0, 0x1e0);
    assert.equal(
      vcekUrl('Milan', chip, decodeTcb(r, 0x180, 'Milan')),
      `https://kdsintf.amd.com/vcek/v1/Milan/${chip.toString('hex')}?blSPL=3&teeSPL=0&snpSPL=8&ucodeSPL=115`,
    );
  });

  it('Turin: hwid is the first 8 bytes of chip_id, fmcSPL first, Turin TCB layout', () => {
    const chip = Buffer.alloc(64, 0xab);
    // Turin TCB bytes: fmc, bl, tee, snp, -, -, -, ucode
    const tcb = decodeTcb(Buffer.from([1, 2, 3, 4, 0, 0, 0, 5]), 0, 'Turin');
    assert.equal(
      vcekUrl('Turin', chip, tcb),
      'https://kdsintf.amd.com/vcek/v1/Turin/abababababababab?fmcSPL=1&blSPL=2&teeSPL=3&snpSPL=4&ucodeSPL=5',
    );
  });

  it('an all-zero or short chip_id cannot be asked for', () => {
    const tcb = decodeTcb(Buffer.alloc(8), 0, 'Milan');
    assert.equal(
      kdsReason(() => vcekUrl('Milan', Buffer.alloc(64), tcb)),
      'INVALID_REQUEST',
    );
    assert.equal(
      kdsReason(() => vcekUrl('Milan', Buffer.alloc(32, 1), tcb)),
      'INVALID_REQUEST',
    );
  });
});

describe('verifyKdsChain (before anything is cached)', () => {
  for (const p of AMD_PRODUCTS)
    for (const kind of ['vcek', 'vlek'] as const)
      it(`accepts the real ${p} ${kind} cert_chain; the ARK is the pinned one`, () => {
        const c = verifyKdsChain(chainFile(p, kind), p, kind, NOW);
        assert.equal(c.ark.fingerprint, AMD_ARK_SHA256[p]);
        assert.match(c.intermediate.x509.subject, kind === 'vcek' ? new RegExp(`CN=SEV-${p}$`) : /CN=SEV-VLEK-/);
        assert.equal((c.pem.match(/BEGIN CERTIFICATE/g) ?? []).length, 2);
      });

  it("another product's chain under this product's URL is UNPINNED_ARK", () => {
    assert.equal(
      kdsReason(() => verifyKdsChain(chainFile('Genoa', 'vcek'), 'Milan', 'vcek', NOW)),
      'UNPINNED_ARK',
    );
  });

  it('a root that is no AMD ARK (the Nitro root) is UNPINNED_ARK', () => {
    const [ask] = chainFile('Milan', 'vcek')
      .toString()
      .split(/(?<=-----END CERTIFICATE-----)/);
    const body = Buffer.from(`${ask}\n${file('roots/aws-nitro-enclaves-root-g1.pem').toString()}`);
    assert.equal(
      kdsReason(() => verifyKdsChain(body, 'Milan', 'vcek', NOW)),
      'UNPINNED_ARK',
    );
  });

  it('the VLEK chain served as the VCEK chain: wrong intermediate, CHAIN_INVALID', () => {
    assert.equal(
      kdsReason(() => verifyKdsChain(chainFile('Milan', 'vlek'), 'Milan', 'vcek', NOW)),
      'CHAIN_INVALID',
    );
  });

  it('reversed order, one certificate, trailing junk, HTML and binary garbage are NOT_A_CERTIFICATE or UNPINNED_ARK', () => {
    const [ask, ark] = chainFile('Milan', 'vcek')
      .toString()
      .split(/(?<=-----END CERTIFICATE-----)/)
      .map((s) => s.trim());
    assert.equal(
      kdsReason(() => verifyKdsChain(Buffer.from(`${ark}\n${ask}\n`), 'Milan', 'vcek', NOW)),
      'UNPINNED_ARK',
    );
    assert.equal(
      kdsReason(() => verifyKdsChain(Buffer.from(`${ask}\n`), 'Milan', 'vcek', NOW)),
      'NOT_A_CERTIFICATE',
    );
    assert.equal(
      kdsReason(() => verifyKdsChain(Buffer.from(`${ask}\n${ark}\n<script>x</script>`), 'Milan', 'vcek', NOW)),
      'NOT_A_CERTIFICATE',
    );
    assert.equal(
      kdsReason(() =>
        verifyKdsChain(Buffer.from('<html><body>Service Unavailable</body></html>'), 'Milan', 'vcek', NOW),
      ),
      'NOT_A_CERTIFICATE',
    );
    assert.equal(
      kdsReason(() => verifyKdsChain(Buffer.from([0x30, 0x82, 0xff, 0xff, 1, 2, 3]), 'Milan', 'vcek', NOW)),
      'NOT_A_CERTIFICATE',
    );
    const bad = Buffer.from(`${ask}\n${ark}\n`);
    // Corrupt one base64 character inside the ASK's signature region.
    const i = bad.indexOf('-----END CERTIFICATE-----') - 10;
    bad[i] = bad[i] === 0x41 ? 0x42 : 0x41;
    assert.ok(
      ['NOT_A_CERTIFICATE', 'CHAIN_INVALID'].includes(kdsReason(() => verifyKdsChain(bad, 'Milan', 'vcek', NOW))),
    );
  });

  it('a chain outside its validity is CHAIN_INVALID (the Milan ARK expires in 2045)', () => {
    assert.equal(
      kdsReason(() => verifyKdsChain(chainFile('Milan', 'vcek'), 'Milan', 'vcek', new Date('2046-01-01T00:00:00Z'))),
      'CHAIN_INVALID',
    );
  });
});

describe('productsOfReport', () => {
  it('v2 reports (no CPUID) try Milan then Genoa; v3+ CPUID picks one', () => {
    assert.deepEqual(productsOfReport(load('sev-snp/virtee-milan-vcek-2023.report.hex')), ['Milan', 'Genoa']);
    const r = Buffer.alloc(0x4a0);
    r[0x188] = 0x19;
    r[0x189] = 0x01;
    assert.deepEqual(productsOfReport(r), ['Milan']);
    r[0x189] = 0x11;
    assert.deepEqual(productsOfReport(r), ['Genoa']);
    r[0x188] = 0x1a;
    r[0x189] = 0x02;
    assert.deepEqual(productsOfReport(r), ['Turin']);
  });
  it('a v3 reclaim report (AWS Milan) says Milan', () => {
    const r = file('sev-snp/reclaim-aws-us-east-2-vlek-2026.DERIVED-report.bin');
    assert.deepEqual(productsOfReport(r), ['Milan']);
  });
});

describe('httpFetcher', () => {
  it('a timeout or network failure is TransientError KDS_UNREACHABLE', async () => {
    const slow: typeof fetch = (_u, init) =>
      new Promise((_res, rej) => init?.signal?.addEventListener('abort', () => rej(init.signal?.reason)));
    await assert.rejects(httpFetcher({ timeoutMs: 20, fetchImpl: slow })('https://kdsintf.amd.com/x'), (e) => {
      assert.ok(e instanceof TransientError);
      assert.equal(e.details.reason, 'KDS_UNREACHABLE');
      assert.match(e.message, /within 20 ms/);
      return true;
    });
    const refused: typeof fetch = async () => {
      throw new TypeError('fetch failed');
    };
    await assert.rejects(httpFetcher({ fetchImpl: refused })('https://kdsintf.amd.com/x'), TransientError);
  });

  it('passes status, body and lower-case headers through', async () => {
    const f: typeof fetch = async () =>
      new Response(new Uint8Array([1, 2, 3]), { status: 429, headers: { 'Retry-After': '30' } });
    const r = await httpFetcher({ fetchImpl: f })('https://kdsintf.amd.com/x');
    assert.equal(r.status, 429);
    assert.deepEqual([...r.body], [1, 2, 3]);
    assert.equal(r.headers['retry-after'], '30');
  });
});
