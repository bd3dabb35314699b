import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { describe, it } from 'node:test';
import { decodeCbor, type Encodable, encodeCbor } from '../../../lambdas/attestation/cbor.ts';
import { claimsToJson, verifyEvidence } from '../../../lambdas/attestation/evidence.ts';
import {
  ChainCache,
  instanceOfModuleId,
  type NitroVerifyOptions,
  parseNitroDocument,
  verifyNitroDocument,
} from '../../../lambdas/attestation/nitro.ts';
import { AttestationPolicySchema } from '../../../lambdas/attestation/policy.ts';
import { AttestationError, type ReasonCode } from '../../../lambdas/attestation/reasons.ts';
import { certsFromPemOrDer } from '../../../lambdas/attestation/x509.ts';
import { ALLOW_DEBUG, file, load, NITRO, plusSeconds } from './vectors.ts';

function reasonOf(f: () => unknown): ReasonCode | 'ACCEPTED' {
  try {
    f();
    return 'ACCEPTED';
  } catch (e) {
    assert.ok(e instanceof AttestationError, `untyped error: ${(e as Error)?.stack}`);
    return e.reason;
  }
}

const verify = (bytes: Uint8Array, o: Partial<NitroVerifyOptions> & { type: NitroVerifyOptions['type']; at: Date }) =>
  verifyNitroDocument(bytes, o);

/** Re-encodes the payload with `edit` applied, keeping the original protected header and signature. */
function editPayload(doc: Uint8Array, edit: (fields: Map<string, Encodable>) => void): Uint8Array {
  const top = decodeCbor(doc);
  assert.equal(top.kind, 'array');
  if (top.kind !== 'array') throw new Error();
  const [prot, unprot, payload, sig] = top.items;
  if (payload?.kind !== 'bytes') throw new Error();
  const pm = decodeCbor(payload.value);
  if (pm.kind !== 'map') throw new Error();
  const fields = new Map<string, Encodable>();
  for (const [k, v] of pm.entries) {
    if (k.kind !== 'text') throw new Error();
    fields.set(k.value, { raw: payload.value.subarray(v.start, v.end) });
  }
  edit(fields);
  const newPayload = encodeCbor(new Map<Encodable, Encodable>([...fields]));
  return encodeCbor([
    { raw: doc.subarray(prot!.start, prot!.end) },
    { raw: doc.subarray(unprot!.start, unprot!.end) },
    newPayload,
    { raw: doc.subarray(sig!.start, sig!.end) },
  ]);
}

describe('Nitro vectors (README verdicts)', () => {
  for (const v of NITRO) {
    const bytes = load(v.file);
    const policy = v.debug ? ALLOW_DEBUG : undefined;
    it(`${v.file}: VALID at its timestamp and at both window edges`, () => {
      for (const at of [new Date(v.timestamp), plusSeconds(v.to, 0), plusSeconds(v.to, -1)]) {
        const c = verify(bytes, { type: v.type, at, ...(policy ? { policy } : {}) });
        assert.equal(c.timestamp, v.timestamp);
        assert.equal(c.debug, v.debug);
        assert.equal(c.type, v.type);
      }
      // The window start is valid for the chain too (a document dated later is not age-checked by default).
      verify(bytes, { type: v.type, at: plusSeconds(v.from, 0), ...(policy ? { policy } : {}) });
    });
    it(`${v.file}: CERT_EXPIRED after its window, CERT_NOT_YET_VALID before`, () => {
      assert.equal(
        reasonOf(() => verify(bytes, { type: v.type, at: plusSeconds(v.to, 1), policy: ALLOW_DEBUG })),
        'CERT_EXPIRED',
      );
      assert.equal(
        reasonOf(() => verify(bytes, { type: v.type, at: plusSeconds(v.from, -1), policy: ALLOW_DEBUG })),
        'CERT_NOT_YET_VALID',
      );
    });
    it(`${v.file}: warm path gives the same verdicts as cold`, () => {
      const cache = new ChainCache();
      for (let i = 0; i < 2; i++) {
        verify(bytes, { type: v.type, at: new Date(v.timestamp), policy: ALLOW_DEBUG, cache });
        assert.equal(
          reasonOf(() => verify(bytes, { type: v.type, at: plusSeconds(v.to, 1), policy: ALLOW_DEBUG, cache })),
          'CERT_EXPIRED',
        );
        assert.equal(
          reasonOf(() => verify(bytes, { type: v.type, at: plusSeconds(v.from, -1), policy: ALLOW_DEBUG, cache })),
          'CERT_NOT_YET_VALID',
        );
      }
      assert.equal(cache.size, 4);
    });
    it(`${v.file}: the wrong evidence type is rejected`, () => {
      const other = v.type === 'nitro-enclave' ? 'nitrotpm' : 'nitro-enclave';
      assert.equal(
        reasonOf(() => verify(bytes, { type: other, at: new Date(v.timestamp), policy: ALLOW_DEBUG })),
        'WRONG_EVIDENCE_TYPE',
      );
    });
  }

  it('indefinite-length payload maps are verified over the received bytes (4 documents)', () => {
    const indefinite = NITRO.filter((v) => {
      const p = parseNitroDocument(load(v.file)).payloadBytes;
      return p[0] === 0xbf;
    }).map((v) => v.file);
    assert.deepEqual(indefinite.sort(), [
      'nitro-enclave/confidior-2026-07-07-us-east-2.hex',
      'nitrotpm/reclaim-2026-06-18-us-east-2.cbor',
      'nitrotpm/reclaim-2026-06-19-us-east-2-from-envelope.cbor',
      'nitrotpm/vaportpm-2026-02-03-us-east-1.cbor',
    ]);
  });

  it('exposes public_key, user_data and nonce as the README lists them', () => {
    const marlin = verify(load('nitro-enclave/marlin-2025-04-29-ap-south-1-pcr16.cbor'), {
      type: 'nitro-enclave',
      at: new Date(1745922759691),
    });
    assert.equal(
      Buffer.from(marlin.publicKey!).toString('hex'),
      '2af77183f4772f00e269c7ffadb0eca298bf76711bbe94471a4944ede5ada084',
    );
    assert.equal(marlin.userData?.length, 0);
    assert.equal(marlin.nonce, null);
    assert.equal(Object.keys(marlin.pcrs).length, 17);
    const blocky = verify(load('nitro-enclave/blocky-2024-09-07-us-east-1-maxfields.b64'), {
      type: 'nitro-enclave',
      at: new Date(1725719859545),
    });
    for (const f of [blocky.publicKey, blocky.userData, blocky.nonce])
      assert.deepEqual(Buffer.from(f!), Buffer.alloc(1024, 1));
    const tpm = verify(load('nitrotpm/vaportpm-2026-02-03-us-east-1.cbor'), {
      type: 'nitrotpm',
      at: new Date(1770113522437),
    });
    assert.equal(tpm.publicKey?.length, 65);
    assert.equal(Object.keys(tpm.pcrs).length, 24);
    assert.equal(tpm.pcrs['17'], 'ff'.repeat(48));
  });

  it('the reclaim envelope: its NitroTPM document verifies and equals the extracted file; user_data = SEV report_data', () => {
    const env = load('nitrotpm/reclaim-2026-06-19-us-east-2-combined-envelope.b64');
    assert.equal(env[0], 0x02);
    const m = decodeCbor(env.subarray(1));
    assert.equal(m.kind, 'map');
    if (m.kind !== 'map') return;
    const get = (k: string) => m.entries.find(([key]) => key.kind === 'text' && key.value === k)?.[1];
    const doc = get('nitrotpm');
    assert.equal(doc?.kind, 'bytes');
    if (doc?.kind !== 'bytes') return;
    assert.deepEqual(Buffer.from(doc.value), load('nitrotpm/reclaim-2026-06-19-us-east-2-from-envelope.cbor'));
    const c = verify(doc.value, { type: 'nitrotpm', at: new Date(1781903643476) });
    const sev = get('sev');
    if (sev?.kind !== 'bytes') throw new Error('no sev');
    const snp = verifyEvidence({
      type: 'sev-snp',
      evidence: sev.value,
      at: new Date(1781903643476),
      chain: file('roots/amd-milan-asvk-ark.pem'),
    });
    assert.equal(snp.type, 'sev-snp');
    if (snp.type === 'sev-snp') assert.equal(snp.reportData, Buffer.from(c.userData!).toString('hex'));
  });
});

describe('Nitro negative tests (README)', () => {
  const v = NITRO[0]!;
  const doc = load(v.file);
  const at = new Date(v.timestamp);

  it('flipping a payload byte (inside PCR0) fails the signature', () => {
    const p = parseNitroDocument(doc);
    const pcr0 = Buffer.from(p.pcrs.get(0)!);
    const off = doc.indexOf(pcr0);
    assert.ok(off > 0);
    for (const bit of [0, 3, 7]) {
      const m = Buffer.from(doc);
      m[off + 10]! ^= 1 << bit;
      assert.equal(
        reasonOf(() => verify(m, { type: 'nitro-enclave', at })),
        'SIGNATURE_INVALID',
      );
    }
  });

  it('flipping a signature bit fails the signature', () => {
    const m = Buffer.from(doc);
    m[m.length - 5]! ^= 0x10;
    assert.equal(
      reasonOf(() => verify(m, { type: 'nitro-enclave', at })),
      'SIGNATURE_INVALID',
    );
  });

  it('a non-pinned cabundle[0] is CHAIN_UNTRUSTED even if the rest is intact', () => {
    // ARK-Milan: a real self-signed CA, but not the pinned Nitro root.
    const ark = certsFromPemOrDer(file('roots/amd-milan-ask-ark.pem'), 'x')[1]!;
    const m = editPayload(doc, (f) => {
      const cb = decodeCbor((f.get('cabundle') as { raw: Uint8Array }).raw);
      if (cb.kind !== 'array') throw new Error();
      f.set('cabundle', [ark, ...cb.items.slice(1).map((i) => (i.kind === 'bytes' ? i.value : new Uint8Array()))]);
    });
    assert.equal(
      reasonOf(() => verify(m, { type: 'nitro-enclave', at })),
      'CHAIN_UNTRUSTED',
    );
    // Dropping the root so cabundle[0] is the regional CA does not help either.
    const m2 = editPayload(doc, (f) => {
      const cb = decodeCbor((f.get('cabundle') as { raw: Uint8Array }).raw);
      if (cb.kind !== 'array') throw new Error();
      f.set(
        'cabundle',
        cb.items.slice(1).map((i) => (i.kind === 'bytes' ? i.value : new Uint8Array())),
      );
    });
    assert.equal(
      reasonOf(() => verify(m2, { type: 'nitro-enclave', at })),
      'CHAIN_UNTRUSTED',
    );
  });

  it('another root fingerprint rejects a genuine document', () => {
    assert.equal(
      reasonOf(() => verify(doc, { type: 'nitro-enclave', at, rootFingerprint: '00'.repeat(32) })),
      'CHAIN_UNTRUSTED',
    );
  });

  it('swapping the certificate of two documents fails the chain or the signature', () => {
    const other = parseNitroDocument(load(NITRO[3]!.file)).certificate;
    const m = editPayload(doc, (f) => f.set('certificate', other));
    assert.ok(
      ['CHAIN_UNTRUSTED', 'SIGNATURE_INVALID'].includes(reasonOf(() => verify(m, { type: 'nitro-enclave', at }))),
    );
    // Same instance CA (the two blocky documents share a bundle): the chain passes, the signature cannot.
    const a = load('nitro-enclave/blocky-2024-09-07-us-east-1-maxfields.b64');
    const bLeaf = parseNitroDocument(load('nitro-enclave/blocky-2024-09-07-us-east-1-maxfields-debug.b64')).certificate;
    const m2 = editPayload(a, (f) => f.set('certificate', bLeaf));
    assert.equal(
      reasonOf(() => verify(m2, { type: 'nitro-enclave', at: new Date(1725719886508) })),
      'SIGNATURE_INVALID',
    );
  });

  it('re-encoding an indefinite-length payload as definite breaks the signature (why we never re-encode)', () => {
    const conf = load('nitro-enclave/confidior-2026-07-07-us-east-2.hex');
    const m = editPayload(conf, () => undefined);
    assert.equal(
      reasonOf(() => verify(m, { type: 'nitro-enclave', at: new Date(1783456414261) })),
      'SIGNATURE_INVALID',
    );
  });

  it('trailing bytes, a wrong tag and a wrong algorithm are rejected; tag 18 is accepted', () => {
    assert.equal(
      reasonOf(() => verify(Buffer.concat([doc, Buffer.of(0)]), { type: 'nitro-enclave', at })),
      'MALFORMED',
    );
    assert.equal(
      reasonOf(() => verify(Buffer.concat([Buffer.of(0xd8, 0x62), doc]), { type: 'nitro-enclave', at })),
      'MALFORMED',
    );
    verify(Buffer.concat([Buffer.of(0xd2), doc]), { type: 'nitro-enclave', at });
    const es256 = Buffer.from(doc);
    const i = es256.indexOf(Buffer.from('44a1013822', 'hex'));
    es256[i + 4] = 0x26; // alg -7
    assert.equal(
      reasonOf(() => verify(es256, { type: 'nitro-enclave', at })),
      'UNSUPPORTED',
    );
  });

  it('debug documents fail the default policy and pass with allowDebug', () => {
    for (const d of NITRO.filter((x) => x.debug)) {
      const b = load(d.file);
      assert.equal(
        reasonOf(() => verify(b, { type: 'nitro-enclave', at: new Date(d.timestamp) })),
        'DEBUG_NOT_ALLOWED',
      );
      assert.equal(verify(b, { type: 'nitro-enclave', at: new Date(d.timestamp), policy: ALLOW_DEBUG }).debug, true);
    }
  });

  it('a debug document fails a PCR policy that expects a production PCR0, even with allowDebug', () => {
    const prod = verify(doc, { type: 'nitro-enclave', at });
    const policy = AttestationPolicySchema.parse({
      allowDebug: true,
      enclaveImages: [{ name: 'prod', pcrs: { 0: prod.pcrs['0'] } }],
    });
    const dbg = NITRO[1]!;
    assert.equal(
      reasonOf(() => verify(load(dbg.file), { type: 'nitro-enclave', at: new Date(dbg.timestamp), policy })),
      'PCR_MISMATCH',
    );
    assert.equal(
      verify(doc, { type: 'nitro-enclave', at, policy }).moduleId,
      'i-020b6af9246d90e92-enc0183d09086c24190',
    );
  });

  it('NitroTPM PCR4/7/12 policy: matching image passes, a different PCR12 fails', () => {
    const t = NITRO.find((x) => x.file.includes('vaportpm'))!;
    const b = load(t.file);
    const c = verify(b, { type: 'nitrotpm', at: new Date(t.timestamp) });
    const pcrs = { 4: c.pcrs['4']!, 7: c.pcrs['7']!, 12: c.pcrs['12']! };
    const ok = AttestationPolicySchema.parse({ tpmImages: [{ name: 'uki', pcrs }] });
    verify(b, { type: 'nitrotpm', at: new Date(t.timestamp), policy: ok });
    const bad = AttestationPolicySchema.parse({ tpmImages: [{ pcrs: { ...pcrs, 12: 'ab'.repeat(48) } }] });
    assert.equal(
      reasonOf(() => verify(b, { type: 'nitrotpm', at: new Date(t.timestamp), policy: bad })),
      'PCR_MISMATCH',
    );
  });

  it('nonce: equal passes, different or absent is NONCE_MISMATCH', () => {
    const c = load('nitro-enclave/confidior-2026-07-07-us-east-2.hex');
    const cat = new Date(1783456414261);
    const nonce = Buffer.from('3ee1db6c2f6434596c5e27a66d9fb666be958dc628268f3a221ebb3ac603f7e9', 'hex');
    verify(c, { type: 'nitro-enclave', at: cat, expectedNonce: nonce });
    const wrong = Buffer.from(nonce);
    wrong[0]! ^= 1;
    assert.equal(
      reasonOf(() => verify(c, { type: 'nitro-enclave', at: cat, expectedNonce: wrong })),
      'NONCE_MISMATCH',
    );
    const m = load(NITRO[4]!.file); // nonce: null
    assert.equal(
      reasonOf(() => verify(m, { type: 'nitro-enclave', at: new Date(NITRO[4]!.timestamp), expectedNonce: nonce })),
      'NONCE_MISMATCH',
    );
  });

  it('maxAgeSeconds: TOO_OLD past the bound, TIMESTAMP_IN_FUTURE before it', () => {
    const policy = AttestationPolicySchema.parse({ maxAgeSeconds: 300 });
    verify(doc, { type: 'nitro-enclave', at: new Date(v.timestamp + 299_000), policy });
    assert.equal(
      reasonOf(() => verify(doc, { type: 'nitro-enclave', at: new Date(v.timestamp + 301_000), policy })),
      'TOO_OLD',
    );
    // This document is dated 26 min after its leaf's notBefore, so "before the timestamp" is inside the window.
    const late = NITRO[2]!;
    const p2 = AttestationPolicySchema.parse({ maxAgeSeconds: 300, allowDebug: true });
    const b = load(late.file);
    verify(b, { type: 'nitro-enclave', at: new Date(late.timestamp - 59_000), policy: p2 });
    assert.equal(
      reasonOf(() => verify(b, { type: 'nitro-enclave', at: new Date(late.timestamp - 61_000), policy: p2 })),
      'TIMESTAMP_IN_FUTURE',
    );
  });

  it('claims JSON carries module_id, timestamp, PCRs and binding fields', () => {
    const j = claimsToJson(
      verify(load('nitro-enclave/confidior-2026-07-07-us-east-2.hex'), {
        type: 'nitro-enclave',
        at: new Date(1783456414261),
      }),
    );
    assert.equal(j.moduleId, 'i-01067cfa560f27f3d-enc019f3e452b6927d3');
    assert.equal(j.timestamp, '2026-07-07T20:33:34.261Z');
    assert.equal((j.pcrs as Record<string, string>)['0']?.slice(0, 8), 'cca6d8f3');
    assert.equal(j.nonce, '3ee1db6c2f6434596c5e27a66d9fb666be958dc628268f3a221ebb3ac603f7e9');
    assert.match(Buffer.from(j.publicKey as string, 'hex').toString(), /BEGIN (RSA )?PUBLIC KEY/);
  });
});

describe('Nitro: the document is bound to the instance module_id names', () => {
  it('every vector names its instance; the same instance passes, any other is INSTANCE_MISMATCH', () => {
    for (const v of NITRO) {
      const bytes = load(v.file);
      const at = new Date(v.timestamp);
      const moduleId = parseNitroDocument(bytes).moduleId;
      const own = instanceOfModuleId(moduleId);
      assert.match(own ?? '', /^i-[0-9a-f]{17}$/, moduleId);
      const c = verify(bytes, { type: v.type, at, policy: ALLOW_DEBUG, expectedInstanceId: own! });
      assert.equal(c.instanceId, own);
      assert.equal(
        reasonOf(() =>
          verify(bytes, { type: v.type, at, policy: ALLOW_DEBUG, expectedInstanceId: 'i-0aaaaaaaaaaaaaaaa' }),
        ),
        'INSTANCE_MISMATCH',
        v.file,
      );
      // An instance id that merely starts like the parent's is another instance.
      assert.equal(
        reasonOf(() => verify(bytes, { type: v.type, at, policy: ALLOW_DEBUG, expectedInstanceId: own!.slice(0, 10) })),
        'INSTANCE_MISMATCH',
      );
    }
  });

  it('module_id forms: enclave and NitroTPM name their instance; anything else names none', () => {
    assert.equal(instanceOfModuleId('i-01067cfa560f27f3d-enc019f3e452b6927d3'), 'i-01067cfa560f27f3d');
    assert.equal(instanceOfModuleId('i-01cfb383223e42522-tpm0000000000000000'), 'i-01cfb383223e42522');
    assert.equal(instanceOfModuleId('i-0123abcd-enc0123456789abcdef'), 'i-0123abcd', 'an 8-hex (older) instance id');
    for (const bad of [
      'i-01067cfa560f27f3d',
      'i-01067cfa560f27f3d-enc019f3e452b6927d',
      'x-01067cfa560f27f3d-enc019f3e452b6927d3',
      'i-01067cfa560f27f3d-enc019f3e452b6927d3-i-0aaaaaaaaaaaaaaaa',
      'i-01067CFA560F27F3D-enc019f3e452b6927d3',
      'i-01067cfa560f27f3d-vm0019f3e452b6927d3',
    ])
      assert.equal(instanceOfModuleId(bad), null, bad);
  });
});

describe('Nitro warm path: verified leaf certificates are cached by their SHA-256', () => {
  const v = NITRO.find((x) => x.file.includes('confidior'))!;
  const doc = load(v.file);
  const at = new Date(v.timestamp);

  it('a warm verification takes the leaf from the cache (one P-384 check left: the document)', () => {
    const cache = new ChainCache();
    verify(doc, { type: 'nitro-enclave', at, cache });
    assert.equal(cache.leafCount, 1);
    assert.equal(cache.leafHits, 0);
    const c = verify(doc, { type: 'nitro-enclave', at, cache });
    assert.equal(cache.leafHits, 1);
    assert.equal(c.leafFingerprint, verify(doc, { type: 'nitro-enclave', at }).leafFingerprint);
    // The leaf cache can be turned off (the benchmark's baseline).
    const off = new ChainCache({ maxLeaves: 0 });
    verify(doc, { type: 'nitro-enclave', at, cache: off });
    verify(doc, { type: 'nitro-enclave', at, cache: off });
    assert.equal(off.leafCount, 0);
    assert.equal(off.leafHits, 0);
  });

  it('a cached leaf is still rejected outside its validity window', () => {
    const cache = new ChainCache();
    verify(doc, { type: 'nitro-enclave', at, cache });
    const hits = cache.leafHits;
    const leaf = new X509Certificate(parseNitroDocument(doc).certificate);
    const after = new Date(leaf.validToDate.getTime() + 1000);
    const before = new Date(leaf.validFromDate.getTime() - 1000);
    assert.equal(
      reasonOf(() => verify(doc, { type: 'nitro-enclave', at: after, cache })),
      'CERT_EXPIRED',
    );
    assert.equal(
      reasonOf(() => verify(doc, { type: 'nitro-enclave', at: before, cache })),
      'CERT_NOT_YET_VALID',
    );
    assert.equal(cache.leafHits, hits + 2, 'both refusals came from the cached leaf');
    verify(doc, { type: 'nitro-enclave', at, cache });
  });

  it('a different certificate with the same subject and key is not served from the cache', () => {
    const cache = new ChainCache();
    verify(doc, { type: 'nitro-enclave', at, cache });
    const real = parseNitroDocument(doc).certificate;
    // One bit of the issuer's signature differs: same subject, same key, another certificate.
    const forged = Buffer.from(real);
    forged[forged.length - 3]! ^= 0x01;
    const [a, b] = [new X509Certificate(real), new X509Certificate(forged)];
    assert.equal(b.subject, a.subject);
    assert.ok(b.publicKey.equals(a.publicKey));
    const m = editPayload(doc, (f) => f.set('certificate', forged));
    // Served from the cache, it would skip the chain and fail only at the document's signature.
    assert.equal(
      reasonOf(() => verify(m, { type: 'nitro-enclave', at, cache })),
      'CHAIN_UNTRUSTED',
    );
    assert.equal(cache.leafHits, 0);
    assert.equal(
      reasonOf(() => verify(m, { type: 'nitro-enclave', at })),
      'CHAIN_UNTRUSTED',
      'cold agrees',
    );
  });
});
