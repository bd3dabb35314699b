/**
 * Attestation verification throughput, one core, same process, same real vectors.
 *   ours cold: no cache, the whole chain parsed and verified every time.
 *   warm CA: CAs cached by fingerprint; the leaf and the document verified every time (the previous warm path).
 *   warm leaf: CAs and the leaf cached by fingerprint (windows still checked): one P-384 check, the document's.
 *   peer: cose-js@0.9.0 (npm), COSE_Sign1 ES384 signature check only, given the leaf key
 *         (it checks no chain, no time, no PCRs: strictly less work than ours).
 *   baseline: one raw node:crypto ECDSA P-384 verify of the document's Sig_structure, the floor of any verifier.
 * No SEV-SNP peer runs here: @tinfoilsh/verifier has only 1.1.0 on npm, which fails to install.
 */
import { verify as cryptoVerify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
// @ts-expect-error cose-js ships no types
import cose from 'cose-js';
import { ChainCache, parseNitroDocument, sigStructure, verifyNitroDocument } from '../lambdas/attestation/nitro.ts';
import { verifySnpReport } from '../lambdas/attestation/snp.ts';
import { parseDer } from '../lambdas/attestation/x509.ts';
import { ATTESTATION_VECTORS } from '../local/fixtures.ts';

const TD = ATTESTATION_VECTORS;
const load = (rel: string) => {
  const b = readFileSync(path.join(TD, rel));
  if (rel.endsWith('.b64')) return Buffer.from(b.toString().trim(), 'base64');
  if (rel.endsWith('.hex')) return Buffer.from(b.toString().trim(), 'hex');
  return b;
};
const SECONDS = Number(process.env.BENCH_SECONDS ?? 2);

async function rate(fn: () => unknown | Promise<unknown>): Promise<number> {
  for (let i = 0; i < 20; i++) await fn();
  const t0 = performance.now();
  let n = 0;
  while (performance.now() - t0 < SECONDS * 1000) {
    await fn();
    n++;
  }
  return n / ((performance.now() - t0) / 1000);
}

const nitro = [
  ['nitro-enclave', 'nitro-enclave/evervault-2022-10-13-us-east-1.cbor'],
  ['nitro-enclave', 'nitro-enclave/confidior-2026-07-07-us-east-2.hex'],
  ['nitrotpm', 'nitrotpm/vaportpm-2026-02-03-us-east-1.cbor'],
] as const;

const rows: Record<string, string | number>[] = [];
let p384 = 0;
for (const [type, file] of nitro) {
  const bytes = load(file);
  const doc = parseNitroDocument(bytes);
  const at = new Date(doc.timestamp);
  const cold = await rate(() => verifyNitroDocument(bytes, { type, at }));
  const caOnly = new ChainCache({ maxLeaves: 0 });
  const warmCa = await rate(() => verifyNitroDocument(bytes, { type, at, cache: caOnly }));
  const cache = new ChainCache();
  const warm = await rate(() => verifyNitroDocument(bytes, { type, at, cache }));
  if (cache.leafHits === 0) throw new Error('the leaf cache was not used');
  const leafKey = parseDer(doc.certificate, 'leaf').key;
  const jwk = leafKey.export({ format: 'jwk' });
  const key = { x: Buffer.from(jwk.x!, 'base64url'), y: Buffer.from(jwk.y!, 'base64url') };
  await cose.sign.verify(bytes, { key }, { defaultType: 18 }); // proves the peer accepts the vector before timing it
  const peer = await rate(() => cose.sign.verify(bytes, { key }, { defaultType: 18 }));
  if (p384 === 0) {
    const data = sigStructure(doc.protectedBytes, doc.payloadBytes);
    const ok = () => cryptoVerify('sha384', data, { key: leafKey, dsaEncoding: 'ieee-p1363' }, doc.signature);
    if (!ok()) throw new Error('baseline does not verify');
    p384 = await rate(ok);
  }
  rows.push({
    type,
    vector: path.basename(file),
    'ours cold/s': Math.round(cold),
    'warm CA/s': Math.round(warmCa),
    'warm leaf/s': Math.round(warm),
    'leaf/CA': (warm / warmCa).toFixed(2),
    'leaf/P-384': (warm / p384).toFixed(2),
    'cose-js/s': Math.round(peer),
    'leaf/cose-js': (warm / peer).toFixed(1),
  });
}

const snp = [
  [
    'sev-snp/virtee-milan-vcek-2023.report.hex',
    'sev-snp/virtee-milan-vcek-2023.vcek.der',
    'roots/amd-milan-ask-ark.pem',
    '2023-05-02T00:00:00Z',
  ],
  [
    'sev-snp/verdifax-aws-us-east-2-vlek-2026.report.bin',
    'sev-snp/aws-us-east-2-vlek-2026.vlek.pem',
    'roots/amd-milan-asvk-ark.pem',
    '2026-06-19T21:14:03Z',
  ],
] as const;
for (const [rep, leaf, chain, at] of snp) {
  const o = { at: new Date(at), leafCert: load(leaf), chain: load(chain) };
  const r = load(rep);
  const cold = await rate(() => verifySnpReport(r, o));
  const cache = new ChainCache();
  const warm = await rate(() => verifySnpReport(r, { ...o, cache }));
  rows.push({
    type: 'sev-snp',
    vector: path.basename(rep),
    'ours cold/s': Math.round(cold),
    'warm CA/s': Math.round(warm),
    'warm leaf/s': '-',
    'leaf/CA': '-',
    'leaf/P-384': '-',
    'cose-js/s': '-',
    'leaf/cose-js': '-',
  });
}

const cols = Object.keys(rows[0]!);
const w = cols.map((c) => Math.max(c.length, ...rows.map((r) => String(r[c]).length)));
console.log(cols.map((c, i) => c.padEnd(w[i]!)).join('  '));
for (const r of rows) console.log(cols.map((c, i) => String(r[c]).padEnd(w[i]!)).join('  '));
console.log(
  `\nbaseline: one raw ECDSA P-384 verify (node:crypto) ${Math.round(p384)}/s. ` +
    `node ${process.version}, ${SECONDS} s per cell, single thread. Goal: warm Nitro ≥ 1,000/s/core.`,
);
