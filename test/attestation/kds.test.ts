/**
 * The AMD certificate cache against moto S3, fed by a fake KDS that serves the real
 * AMD chains (roots/) and the real VCEKs (sev-snp/) at the URLs AMD's KDS uses; and the
 * attestation step verifying bare SEV-SNP reports with certificates from that cache.
 *
 * The fake KDS finds a VCEK by the hwID and SPL extensions of the certificate itself,
 * so a URL built wrongly (hwid, SPL order or values) gets a 404, as from AMD.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, before, beforeEach, describe, it } from 'node:test';
import {
  CreateBucketCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { certExtensions } from '../../lambdas/attestation/der.ts';
import { verifyEvidence } from '../../lambdas/attestation/evidence.ts';
import {
  AmdCertsStaleError,
  chainKey,
  FETCHED_AT_META,
  fetchVcek,
  loadAmdChain,
  refreshAmdChains,
} from '../../lambdas/attestation/kds-cache.ts';
import { AMD_PRODUCTS, KdsError, type KdsFetcher, type KdsResponse } from '../../lambdas/attestation/kds-client.ts';
import { S3AmdCertSource } from '../../lambdas/attestation/kds-source.ts';
import { AMD_ARK_SHA256, type SnpClaims } from '../../lambdas/attestation/snp.ts';
import { runAttestationStep, type StepDeps, type TaskCallbacks } from '../../lambdas/attestation/step.ts';
import { awsClientConfig } from '../../lambdas/shared/clients.ts';
import { NotFoundError, TransientError } from '../../lambdas/shared/errors.ts';
import { type MotoServer, startMoto } from '../../local/emulator/moto.ts';
import { file, load } from '../unit/attestation/vectors.ts';
import { InMemoryNonceStore } from './helpers.ts';

const NOW = new Date('2026-01-01T00:00:00Z');
const HOUR = 3600_000;

// ---------------------------------------------------------------- the fake KDS

const VCEKS = ['sev-snp/virtee-milan-vcek-2023.vcek.der', 'sev-snp/go-sev-guest-milan-vcek-2022.vcek.der'].map((f) =>
  file(f),
);

/** The query a VCEK answers to, from its own extensions (independent of the KDS client). */
function vcekPath(der: Buffer): string {
  const ext = certExtensions(der);
  const int = (oid: string) => ext.get(`1.3.6.1.4.1.3704.1.${oid}`)?.at(-1);
  const hw = Buffer.from(ext.get('1.3.6.1.4.1.3704.1.4')!).toString('hex');
  return `/vcek/v1/Milan/${hw}?blSPL=${int('3.1')}&teeSPL=${int('3.2')}&snpSPL=${int('3.3')}&ucodeSPL=${int('3.8')}`;
}

class FakeKds {
  readonly calls: string[] = [];
  /** URL path → a response overriding the real one. */
  readonly overrides = new Map<string, KdsResponse | (() => KdsResponse)>();
  fetch: KdsFetcher = async (url) => {
    this.calls.push(url);
    const u = new URL(url);
    assert.equal(u.origin, 'https://kdsintf.amd.com');
    const p = u.pathname + u.search;
    const o = this.overrides.get(p);
    if (o) return typeof o === 'function' ? o() : o;
    const m = /^\/(vcek|vlek)\/v1\/(Milan|Genoa|Turin)\/cert_chain$/.exec(p);
    if (m) {
      const [, kind, product] = m as unknown as [string, string, string];
      return ok(file(`roots/amd-${product.toLowerCase()}-${kind === 'vcek' ? 'ask' : 'asvk'}-ark.pem`));
    }
    const vcek = VCEKS.find((d) => vcekPath(d) === p);
    if (vcek) return ok(vcek);
    return { status: 404, body: Buffer.from('Not Found'), headers: {} };
  };
}
const ok = (body: Uint8Array): KdsResponse => ({ status: 200, body, headers: {} });

// ---------------------------------------------------------------- moto

let moto: MotoServer;
let s3: S3Client;
let bucketNo = 0;
let loc: { bucket: string; prefix: string };

before(async () => {
  moto = await startMoto();
  s3 = new S3Client(awsClientConfig({ endpoint: moto.endpoint }));
});
after(async () => {
  s3?.destroy();
  await moto?.stop();
});
beforeEach(async () => {
  loc = { bucket: `aidops-amd-certs-${++bucketNo}`, prefix: 'amd/' };
  await s3.send(new CreateBucketCommand({ Bucket: loc.bucket }));
});

async function keys(): Promise<string[]> {
  const r = await s3.send(new ListObjectsV2Command({ Bucket: loc.bucket }));
  return (r.Contents ?? []).map((o) => o.Key!).sort();
}
async function meta(key: string) {
  return (await s3.send(new HeadObjectCommand({ Bucket: loc.bucket, Key: key }))).Metadata ?? {};
}
async function rejectsWith<E extends Error>(p: Promise<unknown>, cls: new (...a: never[]) => E): Promise<E> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof cls, `expected ${cls.name}, got ${(e as Error)?.name}: ${(e as Error)?.message}`);
    return e;
  }
  assert.fail(`expected ${cls.name}, nothing was thrown`);
}

// ---------------------------------------------------------------- refresh

describe('refreshAmdChains (moto S3, fake KDS)', () => {
  it('fetches, verifies and caches the VCEK and VLEK chains of Milan, Genoa and Turin with fetchedAt', async () => {
    const kds = new FakeKds();
    const r = await refreshAmdChains(s3, loc, kds.fetch, NOW);
    assert.equal(r.cached.length, 6);
    assert.deepEqual(
      [...kds.calls].sort(),
      AMD_PRODUCTS.flatMap((p) => [
        `https://kdsintf.amd.com/vcek/v1/${p}/cert_chain`,
        `https://kdsintf.amd.com/vlek/v1/${p}/cert_chain`,
      ]).sort(),
    );
    assert.deepEqual(
      await keys(),
      AMD_PRODUCTS.flatMap((p) => [
        `amd/chains/${p}/vcek/cert_chain.pem`,
        `amd/chains/${p}/vlek/cert_chain.pem`,
      ]).sort(),
    );
    for (const p of AMD_PRODUCTS) {
      const m = await meta(chainKey(loc, p, 'vcek'));
      assert.equal(m[FETCHED_AT_META], NOW.toISOString());
      assert.equal(m['ark-sha256'], AMD_ARK_SHA256[p]);
      const loaded = await loadAmdChain(s3, loc, { product: p, kind: 'vlek', now: new Date(NOW.getTime() + HOUR) });
      assert.equal(loaded.ageMs, HOUR);
      assert.match(loaded.intermediate.x509.subject, new RegExp(`CN=SEV-VLEK-${p}`));
    }
  });

  it('a hostile KDS serving unpinned ARKs is refused: KdsError UNPINNED_ARK, nothing cached', async () => {
    const kds = new FakeKds();
    const nitroRoot = file('roots/aws-nitro-enclaves-root-g1.pem').toString();
    for (const p of AMD_PRODUCTS)
      for (const kind of ['vcek', 'vlek']) {
        const real = file(`roots/amd-${p.toLowerCase()}-${kind === 'vcek' ? 'ask' : 'asvk'}-ark.pem`).toString();
        const ask = real.slice(0, real.indexOf('-----END CERTIFICATE-----') + 25);
        // The genuine intermediate, but an attacker's root in the ARK's place.
        kds.overrides.set(`/${kind}/v1/${p}/cert_chain`, ok(Buffer.from(`${ask}\n${nitroRoot}`)));
      }
    const e = await rejectsWith(refreshAmdChains(s3, loc, kds.fetch, NOW), KdsError);
    assert.equal(e.reason, 'UNPINNED_ARK');
    assert.equal((e.details.failures as unknown[]).length, 6);
    assert.deepEqual(await keys(), []);
  });

  it('one bad answer leaves the previous good object in place; the others refresh', async () => {
    const kds = new FakeKds();
    await refreshAmdChains(s3, loc, kds.fetch, NOW);
    // The Genoa chain served for Milan: pinned to another product.
    kds.overrides.set('/vcek/v1/Milan/cert_chain', ok(file('roots/amd-genoa-ask-ark.pem')));
    const later = new Date(NOW.getTime() + 24 * HOUR);
    const e = await rejectsWith(refreshAmdChains(s3, loc, kds.fetch, later), KdsError);
    assert.equal(e.reason, 'UNPINNED_ARK');
    assert.match(e.message, /the Genoa ARK/);
    assert.equal((await meta(chainKey(loc, 'Milan', 'vcek')))[FETCHED_AT_META], NOW.toISOString());
    assert.equal((await meta(chainKey(loc, 'Genoa', 'vcek')))[FETCHED_AT_META], later.toISOString());
    const milan = await s3.send(new GetObjectCommand({ Bucket: loc.bucket, Key: chainKey(loc, 'Milan', 'vcek') }));
    assert.match(await milan.Body!.transformToString(), /BEGIN CERTIFICATE/);
    const loaded = await loadAmdChain(s3, loc, { product: 'Milan', kind: 'vcek', now: later });
    assert.match(loaded.intermediate.x509.subject, /CN=SEV-Milan/);
  });

  it('HTTP 429 stops the run at once: TransientError RATE_LIMITED with Retry-After; nothing more is asked', async () => {
    const kds = new FakeKds();
    kds.overrides.set('/vcek/v1/Milan/cert_chain', {
      status: 429,
      body: new Uint8Array(),
      headers: { 'retry-after': '120' },
    });
    const e = await rejectsWith(refreshAmdChains(s3, loc, kds.fetch, NOW), TransientError);
    assert.equal(e.name, 'TransientError');
    assert.equal(e.details.reason, 'RATE_LIMITED');
    assert.equal(e.details.retryAfter, '120');
    assert.equal(kds.calls.length, 1);
    assert.deepEqual(await keys(), []);
  });

  it('a garbage 200 body is KdsError NOT_A_CERTIFICATE; 403 is HTTP_ERROR; 503 and a dead network are transient', async () => {
    const kds = new FakeKds();
    kds.overrides.set('/vlek/v1/Turin/cert_chain', ok(Buffer.from('<html>maintenance</html>')));
    let e: Error = await rejectsWith(refreshAmdChains(s3, loc, kds.fetch, NOW), KdsError);
    assert.equal((e as KdsError).reason, 'NOT_A_CERTIFICATE');
    assert.equal((await keys()).length, 5, 'the five good chains are cached');
    assert.ok(!(await keys()).includes(chainKey(loc, 'Turin', 'vlek')));

    kds.overrides.set('/vlek/v1/Turin/cert_chain', { status: 403, body: Buffer.from('Forbidden'), headers: {} });
    e = await rejectsWith(refreshAmdChains(s3, loc, kds.fetch, NOW), KdsError);
    assert.equal((e as KdsError).reason, 'HTTP_ERROR');

    kds.overrides.set('/vlek/v1/Turin/cert_chain', { status: 503, body: new Uint8Array(), headers: {} });
    e = await rejectsWith(refreshAmdChains(s3, loc, kds.fetch, NOW), TransientError);
    assert.equal((e as TransientError).details.reason, 'KDS_UNAVAILABLE');

    const dead: KdsFetcher = async () => {
      throw new Error('getaddrinfo ENOTFOUND kdsintf.amd.com');
    };
    e = await rejectsWith(refreshAmdChains(s3, loc, dead, NOW), TransientError);
    assert.equal((e as TransientError).details.reason, 'KDS_UNREACHABLE');
  });
});

// ---------------------------------------------------------------- load / staleness

describe('loadAmdChain', () => {
  it('no cached chain: NotFoundError naming the object', async () => {
    const e = await rejectsWith(loadAmdChain(s3, loc, { product: 'Genoa', kind: 'vcek', now: NOW }), NotFoundError);
    assert.match(e.message, new RegExp(`s3://${loc.bucket}/amd/chains/Genoa/vcek/cert_chain.pem`));
    assert.match(e.message, /refresh job/);
  });

  it('older than maxAgeMs: AmdCertsStaleError naming the object, when it was fetched and its age', async () => {
    await refreshAmdChains(s3, loc, new FakeKds().fetch, NOW);
    const at = new Date(NOW.getTime() + 73 * HOUR);
    const e = await rejectsWith(
      loadAmdChain(s3, loc, { product: 'Milan', kind: 'vcek', now: at, maxAgeMs: 72 * HOUR }),
      AmdCertsStaleError,
    );
    assert.equal(e.name, 'AmdCertsStaleError');
    assert.match(e.message, new RegExp(`s3://${loc.bucket}/amd/chains/Milan/vcek/cert_chain.pem`));
    assert.match(e.message, /2026-01-01T00:00:00.000Z, 73\.0 h ago \(max 72\.0 h\)/);
    assert.equal(e.details.ageMs, 73 * HOUR);
    // Inside the bound it loads.
    await loadAmdChain(s3, loc, { product: 'Milan', kind: 'vcek', now: at, maxAgeMs: 74 * HOUR });
  });

  it('a cached object replaced with an unpinned chain is refused on load (KdsError UNPINNED_ARK)', async () => {
    await refreshAmdChains(s3, loc, new FakeKds().fetch, NOW);
    await s3.send(
      new PutObjectCommand({
        Bucket: loc.bucket,
        Key: chainKey(loc, 'Milan', 'vcek'),
        Body: file('roots/amd-genoa-ask-ark.pem'),
        Metadata: { [FETCHED_AT_META]: NOW.toISOString() },
      }),
    );
    const e = await rejectsWith(loadAmdChain(s3, loc, { product: 'Milan', kind: 'vcek', now: NOW }), KdsError);
    assert.equal(e.reason, 'UNPINNED_ARK');
  });
});

// ---------------------------------------------------------------- VCEK by (chip, TCB)

const VIRTEE = load('sev-snp/virtee-milan-vcek-2023.report.hex');
const GOSEV = load('sev-snp/go-sev-guest-milan-vcek-2022.report.bin');
const vcekReq = (r: Uint8Array) => ({
  product: 'Milan' as const,
  chipId: r.subarray(0x1a0, 0x1e0),
  reportedTcb: r.subarray(0x180, 0x188),
  now: NOW,
});

describe('fetchVcek', () => {
  it('a miss asks KDS, checks the VCEK against the cached ASK and caches the DER by (chip, TCB); a hit asks nothing', async () => {
    const kds = new FakeKds();
    await refreshAmdChains(s3, loc, kds.fetch, NOW);
    const before = kds.calls.length;
    const first = await fetchVcek(s3, loc, kds.fetch, vcekReq(VIRTEE));
    assert.equal(first.fromCache, false);
    assert.equal(kds.calls.length, before + 1);
    assert.equal(kds.calls.at(-1), first.url);
    assert.deepEqual(Buffer.from(first.der), file('sev-snp/virtee-milan-vcek-2023.vcek.der'));
    const chip = Buffer.from(VIRTEE.subarray(0x1a0, 0x1e0)).toString('hex');
    assert.equal(first.key, `amd/vcek/Milan/${chip}/7308000000000003.der`);
    const stored = await s3.send(new GetObjectCommand({ Bucket: loc.bucket, Key: first.key }));
    assert.deepEqual(Buffer.from(await stored.Body!.transformToByteArray()), Buffer.from(first.der));
    const second = await fetchVcek(s3, loc, kds.fetch, vcekReq(VIRTEE));
    assert.equal(second.fromCache, true);
    assert.equal(kds.calls.length, before + 1);
  });

  it("KDS answering with another chip's VCEK: KdsError WRONG_CERTIFICATE, nothing cached", async () => {
    const kds = new FakeKds();
    await refreshAmdChains(s3, loc, kds.fetch, NOW);
    kds.overrides.set(vcekPath(file('sev-snp/virtee-milan-vcek-2023.vcek.der')), ok(VCEKS[1]!));
    const e = await rejectsWith(fetchVcek(s3, loc, kds.fetch, vcekReq(VIRTEE)), KdsError);
    assert.equal(e.reason, 'WRONG_CERTIFICATE');
    assert.ok(!(await keys()).some((k) => k.startsWith('amd/vcek/')));
  });

  it('garbage for a VCEK is NOT_A_CERTIFICATE; 429 is TransientError; no chain cached is NotFoundError', async () => {
    const kds = new FakeKds();
    const path = vcekPath(file('sev-snp/virtee-milan-vcek-2023.vcek.der'));
    await rejectsWith(fetchVcek(s3, loc, kds.fetch, vcekReq(VIRTEE)), NotFoundError);
    await refreshAmdChains(s3, loc, kds.fetch, NOW);
    kds.overrides.set(path, ok(Buffer.from('{"error":"oops"}')));
    assert.equal(
      (await rejectsWith(fetchVcek(s3, loc, kds.fetch, vcekReq(VIRTEE)), KdsError)).reason,
      'NOT_A_CERTIFICATE',
    );
    kds.overrides.set(path, { status: 429, body: new Uint8Array(), headers: {} });
    const t = await rejectsWith(fetchVcek(s3, loc, kds.fetch, vcekReq(VIRTEE)), TransientError);
    assert.equal(t.details.reason, 'RATE_LIMITED');
  });
});

// ---------------------------------------------------------------- the step with a bare report

class NoCallbacks implements TaskCallbacks {
  readonly calls: string[] = [];
  async success() {
    this.calls.push('success');
  }
  async failure(_t: string, _e: string, cause: string) {
    this.calls.push(cause);
  }
}

/** SEV-SNP reports name no instance: the session's instance is recorded but only Nitro documents are held to it. */
const SNP_SESSION = { instanceId: 'i-0123456789abcdef0' } as const;

describe('attestation step: bare SEV-SNP reports, certificates from the cache', () => {
  const spki = generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey.export({ format: 'der', type: 'spki' });
  const at = new Date('2023-05-02T00:00:00Z');

  async function step(evidence: Uint8Array, source: S3AmdCertSource | undefined, extra: object = {}) {
    const store = new InMemoryNonceStore(() => at.getTime());
    const nonce = await store.issue('snp-bare');
    const cb = new NoCallbacks();
    const deps: StepDeps = {
      nonceStore: store,
      secrets: new SecretsManagerClient(awsClientConfig({ endpoint: moto.endpoint })),
      callbacks: cb,
      secretPrefix: 'aidops/session/',
      now: () => at,
      ...(source ? { amdCerts: source } : {}),
    };
    const r = await runAttestationStep(
      {
        taskToken: 'tt',
        sessionId: 'snp-bare',
        evidenceType: 'sev-snp',
        evidence: Buffer.from(evidence).toString('base64'),
        nonce: Buffer.from(nonce).toString('hex'),
        publicKey: spki.toString('base64'),
        ...extra,
      },
      SNP_SESSION,
      deps,
    );
    return { r, cb };
  }

  it('the cache (refreshed chain + VCEK fetched by chip_id and reported_tcb) verifies the virtee report fully', async () => {
    const kds = new FakeKds();
    await refreshAmdChains(s3, loc, kds.fetch, NOW);
    const source = new S3AmdCertSource({ s3, loc, fetcher: kds.fetch, now: () => NOW });
    const certs = await source.certsFor(VIRTEE);
    // Bind to the report's own report_data: everything else is the verifier's full path.
    const claims = verifyEvidence({
      type: 'sev-snp',
      evidence: VIRTEE,
      at,
      leafCert: certs.leaf,
      chain: certs.chain,
      expectedReportData: VIRTEE.subarray(0x50, 0x90),
    }) as SnpClaims;
    assert.equal(claims.signerKind, 'VCEK');
    assert.equal(claims.product, 'Milan');
    assert.equal(claims.chipId, Buffer.from(VIRTEE.subarray(0x1a0, 0x1e0)).toString('hex'));
    assert.equal(claims.leafFingerprint.length, 64);
    // The go-sev-guest report (DEBUG set) too, through the KDS path.
    const g = await source.certsFor(GOSEV);
    const gc = verifyEvidence({
      type: 'sev-snp',
      evidence: GOSEV,
      at: new Date('2022-09-24T01:00:00Z'),
      leafCert: g.leaf,
      chain: g.chain,
      policy: { allowDebug: true, allowMigrationAgent: false, clockSkewSeconds: 60 },
      expectedReportData: GOSEV.subarray(0x50, 0x90),
    }) as SnpClaims;
    assert.equal(gc.debug, true);
  });

  it('the step takes the certificates from the cache and runs the whole check up to the nonce binding', async () => {
    const kds = new FakeKds();
    await refreshAmdChains(s3, loc, kds.fetch, NOW);
    const source = new S3AmdCertSource({ s3, loc, fetcher: kds.fetch, now: () => NOW });
    const withCache = await step(VIRTEE, source);
    // Chain, TCB, chip and signature passed; this published report cannot carry our nonce binding.
    assert.equal(withCache.r.reason, 'NONCE_MISMATCH', withCache.r.message);
    assert.match(withCache.r.message, /report_data differs/);
    assert.ok(
      (await keys()).some((k) => k.startsWith('amd/vcek/Milan/')),
      'the VCEK was cached',
    );
    // A tampered report with the same certificates fails the signature, proving the cached VCEK was used.
    const bad = Buffer.from(VIRTEE);
    bad[0x90]! ^= 1;
    assert.equal((await step(bad, source)).r.reason, 'SIGNATURE_INVALID');
    // Without the cache the bare report cannot be checked.
    const without = await step(VIRTEE, undefined);
    assert.equal(without.r.reason, 'MALFORMED');
    assert.match(without.r.message, /needs its VCEK or VLEK/);
  });

  it('cache only (no KDS fetching) and the VCEK not cached: CERTS_UNAVAILABLE naming the KDS URL; task failure sent', async () => {
    await refreshAmdChains(s3, loc, new FakeKds().fetch, NOW);
    const { r, cb } = await step(VIRTEE, new S3AmdCertSource({ s3, loc, now: () => NOW }));
    assert.equal(r.reason, 'CERTS_UNAVAILABLE');
    assert.match(r.message, /kdsintf\.amd\.com\/vcek\/v1\/Milan\//);
    assert.match(cb.calls[0] ?? '', /^CERTS_UNAVAILABLE: /);
  });

  it('a bare VLEK report: CERTS_UNAVAILABLE saying the VLEK must be supplied; with the VLEK only, the chain comes from the cache', async () => {
    await refreshAmdChains(s3, loc, new FakeKds().fetch, NOW);
    const source = new S3AmdCertSource({ s3, loc, now: () => NOW });
    const verdifax = file('sev-snp/verdifax-aws-us-east-2-vlek-2026.report.bin');
    const { r } = await step(verdifax, source);
    assert.equal(r.reason, 'CERTS_UNAVAILABLE');
    assert.match(r.message, /VLEK.*must send it/);
    const vlek = file('sev-snp/aws-us-east-2-vlek-2026.vlek.pem').toString();
    const certs = await source.certsFor(verdifax, { leaf: Buffer.from(vlek) });
    const claims = verifyEvidence({
      type: 'sev-snp',
      evidence: verdifax,
      at: new Date('2026-06-19T21:14:03Z'),
      leafCert: certs.leaf,
      chain: certs.chain,
      expectedReportData: verdifax.subarray(0x50, 0x90),
    }) as SnpClaims;
    assert.equal(claims.signerKind, 'VLEK');
    assert.match(claims.cspId ?? '', /amazonaws\.com/);
  });

  it('a stale cache is an operational error: AmdCertsStaleError propagates, no verdict or callback', async () => {
    await refreshAmdChains(s3, loc, new FakeKds().fetch, NOW);
    const source = new S3AmdCertSource({ s3, loc, now: () => new Date(NOW.getTime() + 100 * HOUR) });
    const store = new InMemoryNonceStore(() => at.getTime());
    const nonce = await store.issue('snp-stale');
    const cb = new NoCallbacks();
    await rejectsWith(
      runAttestationStep(
        {
          taskToken: 'tt',
          sessionId: 'snp-stale',
          evidenceType: 'sev-snp',
          evidence: VIRTEE.toString('base64'),
          nonce: Buffer.from(nonce).toString('hex'),
          publicKey: spki.toString('base64'),
        },
        SNP_SESSION,
        {
          nonceStore: store,
          secrets: new SecretsManagerClient(awsClientConfig({ endpoint: moto.endpoint })),
          callbacks: cb,
          secretPrefix: 'aidops/session/',
          now: () => at,
          amdCerts: source,
        },
      ),
      AmdCertsStaleError,
    );
    assert.deepEqual(cb.calls, []);
  });
});
