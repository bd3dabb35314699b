/**
 * Verifier throughput: MB/s over ~100 MB of real audit objects (chained, with a
 * signed digest) served from memory in 64 KiB chunks, beside plain SHA-256 over
 * the same bytes in the same run (one core). Goal: >= 0.5x plain SHA-256.
 *
 *   node bench/audit-verifier.ts [MB]
 */
import { createHash, createPublicKey, sign as cryptoSign, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { buildChainObject, chainObjectKey, DIGEST_FORMAT, digestObjectKey } from '../lambdas/audit/chain.ts';
import { buildDigest, type DigestEntry, type DigestSigner, publicKeySha256 } from '../lambdas/audit/digest-format.ts';
import type { ChainState, HeadReader } from '../lambdas/audit/heads.ts';
import { newEvent } from '../lambdas/audit/schema.ts';
import { type AuditStore, trustFromPublicKey, type VersionInfo, verifyAudit } from '../lambdas/audit/verify.ts';

const TARGET = Number(process.argv[2] ?? 100) * 1e6;
const CHUNK = 64 * 1024;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const lines = Array.from({ length: 10_000 }, (_, i) =>
  JSON.stringify(
    newEvent('action', {
      source: 'aidops.agent',
      sessionId: 'bench',
      user: { id: 'hmac-sha256:0a1b2c3d:q7pJ0mJ1n8oXc3Yy1f2Yw7k0b8y3c4Lr6d9eT1uVx2Q', type: 'human' },
      detail: {
        type: 'fs_write',
        path: `/home/agent/work/file-${i}.txt`,
        bytes: 2048,
        outcome: 'success',
        content: 'hmac-sha256:0a1b2c3d:Zx9yW8vU7tS6rQ5pO4nM3lK2jI1hG0fE9dC8bA7zY6x',
      },
    }),
  ),
);
const objects = new Map<string, { body: Buffer; lastModified: Date; retainUntil: Date; mode: string }>();
const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-384' });
/** A local P-384 signer with KMS's output (DER ECDSA over SHA-384): the benchmark measures the verifier, not KMS. */
function localEcdsaP384Signer(priv: KeyObject, keyId: string): DigestSigner {
  return {
    keyId,
    publicKeyDer: createPublicKey(priv).export({ type: 'spki', format: 'der' }),
    async sign(message) {
      return cryptoSign('sha384', message, { key: priv, dsaEncoding: 'der' });
    },
  };
}
const signer = localEcdsaP384Signer(privateKey, 'bench-key');
const now = new Date();
const retainUntil = new Date(now.getTime() + 366 * 86_400_000);

let total = 0;
let prev: { key: string; versionId: string; sha256: string } | null = null;
const entries: DigestEntry[] = [];
for (let seq = 1; total < TARGET; seq++) {
  const key = chainObjectKey('audit/', 'bench', seq);
  const { body } = buildChainObject(
    'bench',
    seq,
    prev,
    lines,
    { first: now.toISOString(), last: now.toISOString() },
    now,
  );
  const sha256 = createHash('sha256').update(body).digest('hex');
  const versionId = `v${seq}`;
  objects.set(`${key}#${versionId}`, { body, lastModified: now, retainUntil, mode: 'COMPLIANCE' });
  entries.push({ seq, key, versionId, sha256 });
  prev = { key, versionId, sha256 };
  total += body.length;
}
const digest = await buildDigest(
  {
    format: DIGEST_FORMAT,
    chain: 'bench',
    digestSeq: 1,
    prevDigestKey: null,
    prevDigestVersionId: null,
    prevDigestSha256: null,
    createdAt: now.toISOString(),
    fromSeq: 1,
    toSeq: entries.length,
    objects: entries,
    signingKeyId: signer.keyId,
    signingAlgorithm: 'ECDSA_SHA_384',
    publicKeySha256: publicKeySha256(signer.publicKeyDer),
  },
  signer,
);
objects.set(`${digestObjectKey('audit/', 'bench', 1)}#d1`, {
  body: digest,
  lastModified: now,
  retainUntil,
  mode: 'COMPLIANCE',
});

async function* chunks(b: Buffer): AsyncIterable<Uint8Array> {
  for (let i = 0; i < b.length; i += CHUNK) yield b.subarray(i, i + CHUNK);
}

const store: AuditStore = {
  async *listVersions(prefix) {
    for (const [id, o] of objects) {
      const [key, versionId] = id.split('#') as [string, string];
      if (!key.startsWith(prefix)) continue;
      const v: VersionInfo = { key, versionId, lastModified: o.lastModified, size: o.body.length, deleteMarker: false };
      yield v;
    }
  },
  async get(key, versionId) {
    const o = objects.get(`${key}#${versionId}`)!;
    return { lockMode: o.mode, retainUntil: o.retainUntil, legalHold: false, body: chunks(o.body) };
  },
};

const trust = trustFromPublicKey(publicKey.export({ type: 'spki', format: 'pem' }).toString());

/** The head table's item for the chain: the verifier walks from it, as it does against DynamoDB. */
const last = entries[entries.length - 1]!;
const state: ChainState = {
  chain: 'bench',
  exists: true,
  head: { chain: 'bench', seq: last.seq, key: last.key, versionId: last.versionId, sha256: last.sha256 },
  skipped: [],
  claim: null,
  rev: entries.length,
  digest: null,
};
const heads: HeadReader = {
  get: async () => state,
  list: async function* () {
    yield state;
  },
};

async function verifierRun(): Promise<number> {
  const t = performance.now();
  const r = await verifyAudit({ store, heads, trust, policy: { retentionDays: 365 } });
  if (!r.intact) throw new Error(`bench chain not intact: ${JSON.stringify(r.findings.slice(0, 3))}`);
  return performance.now() - t;
}

async function plainRun(): Promise<number> {
  const t = performance.now();
  for (const o of objects.values()) {
    const h = createHash('sha256');
    for await (const c of chunks(o.body)) h.update(c);
    h.digest();
  }
  return performance.now() - t;
}

await verifierRun();
await plainRun();
const v: number[] = [];
const p: number[] = [];
for (let i = 0; i < 5; i++) {
  v.push(await verifierRun());
  p.push(await plainRun());
}
const mb = total / 1e6;
const vr = mb / (median(v) / 1000);
const pr = mb / (median(p) / 1000);
console.log(
  `audit verifier over ${mb.toFixed(1)} MB (${entries.length} objects of 10,000 events + 1 signed digest), median of 5`,
);
console.log(
  `  verifier (hash + head + chain links + header/count + lock + time + digest signature): ${vr.toFixed(0)} MB/s`,
);
console.log(`  plain SHA-256 over the same bytes, same chunks:                          ${pr.toFixed(0)} MB/s`);
console.log(`  ratio verifier / plain SHA-256: ${(vr / pr).toFixed(3)} (goal >= 0.5)`);
