/**
 * The digest-chain check: every digest of a chain, newest first, so each one is
 * read at the version its successor pinned; its signature under the trusted key,
 * its position, its lock. Valid digests then pin the objects they list.
 */
import { digestObjectKey } from '../chain.ts';
import { type ParsedDigest, parseDigest } from '../digest-format.ts';
import type { ChainCheck, CheckedObject, ObjectPin } from './context.ts';
import type { ChainListing } from './listing.ts';
import { checkLock } from './lock.ts';
import { original, type Scanned } from './scan.ts';
import { verifyDigestSignature } from './trust.ts';

export interface DigestChainResult {
  /** Digests read (valid or not). */
  readonly digests: number;
  /** Chain seq → what the signer of a valid digest saw. */
  readonly pins: ReadonlyMap<number, ObjectPin>;
  /** Highest seq covered by a valid digest (0: none). */
  readonly digestedThroughSeq: number;
}

type Pin = { key: string | null; versionId: string | null; sha256: string | null };

export function checkDigestChain(c: ChainCheck, l: ChainListing): DigestChainResult {
  const { chain, findings } = c;
  const maxD = Math.max(0, ...l.digests.keys(), ...l.digestMarkers.keys());
  const chosen = new Map<number, { s: Scanned; d: ParsedDigest | null }>();
  const bad = new Set<number>();
  let pinD: Pin | null = null;
  for (let ds = maxD; ds >= 1; ds--) {
    const vs = c.scans.digests(chain, ds);
    const key = digestObjectKey(c.prefix, chain, ds);
    const pinnedVersion = pinD?.key === key ? pinD.versionId : null;
    let s: Scanned | undefined;
    if (pinnedVersion) {
      s = vs.find((x) => x.version.versionId === pinnedVersion);
      if (!s && vs.length > 0) {
        findings.add({
          code: 'DIGEST_FORGED',
          digestSeq: ds,
          key,
          expected: pinnedVersion,
          actual: vs.map((x) => x.version.versionId).join(','),
          message: `digest ${ds} was replaced: the version digest ${ds + 1} pinned is gone`,
        });
        bad.add(ds);
        s = original(vs);
      }
    } else s = original(vs, (x) => parseDigest(x.content ?? Buffer.alloc(0))?.body.digestSeq === ds);
    if (vs.length > 1 && !bad.has(ds)) {
      findings.add({ code: 'EXTRA_VERSION', digestSeq: ds, key, message: `digest ${ds} has ${vs.length} versions` });
    }
    if ((l.digestMarkers.get(ds)?.length ?? 0) > 0) {
      findings.add({ code: 'DELETE_MARKER', digestSeq: ds, key, message: `a delete marker hides digest ${ds}` });
    }
    if (!s) {
      findings.add({
        code: 'DIGEST_MISSING',
        digestSeq: ds,
        key,
        message: `digest ${ds} of chain ${chain} is missing`,
      });
      bad.add(ds);
      pinD = null;
      continue;
    }
    const d = parseDigest(s.content ?? Buffer.alloc(0));
    chosen.set(ds, { s, d });
    if (!d) {
      findings.add({ code: 'DIGEST_FORGED', digestSeq: ds, key, message: `digest ${ds} is not a readable digest` });
      bad.add(ds);
      pinD = null;
      continue;
    }
    // A link in the digest chain: digest N+1 pins N's hash.
    if (pinD?.key === key && pinD.sha256 && pinD.sha256 !== s.sha256 && !bad.has(ds)) {
      findings.add({
        code: 'DIGEST_FORGED',
        digestSeq: ds,
        key,
        expected: pinD.sha256,
        actual: s.sha256,
        message: `digest ${ds} differs from the hash digest ${ds + 1} recorded`,
      });
      bad.add(ds);
    }
    const sigOk = verifyDigestSignature(d, c.trust);
    if (!sigOk && !bad.has(ds)) {
      const wrongKey = d.body.publicKeySha256 !== c.trust.publicKeySha256;
      findings.add({
        code: wrongKey ? 'DIGEST_WRONG_KEY' : 'DIGEST_FORGED',
        digestSeq: ds,
        key,
        expected: wrongKey ? (c.trust.keyId ?? c.trust.publicKeySha256) : undefined,
        actual: wrongKey ? (d.signature.signingKeyId ?? d.body.publicKeySha256) : undefined,
        message: wrongKey
          ? `digest ${ds} is signed by another key (${d.signature.signingKeyId})`
          : `digest ${ds} signature does not verify`,
      });
      bad.add(ds);
    } else if (sigOk && (d.body.chain !== chain || d.body.digestSeq !== ds)) {
      findings.add({
        code: 'OUT_OF_ORDER',
        digestSeq: ds,
        key,
        message: `digest at ${key} is digest ${d.body.digestSeq} of chain ${d.body.chain}`,
      });
      bad.add(ds);
    }
    checkLock(findings, s, new Date(d.body.createdAt ?? s.version.lastModified), { digestSeq: ds }, c.policy);
    pinD = sigOk
      ? { key: d.body.prevDigestKey, versionId: d.body.prevDigestVersionId, sha256: d.body.prevDigestSha256 }
      : null;
  }

  const pins = new Map<number, ObjectPin>();
  let digestedThroughSeq = 0;
  for (const [ds, { d }] of chosen) {
    if (!d || bad.has(ds)) continue;
    for (const o of d.body.objects) pins.set(o.seq, { ...o, digestSeq: ds });
    digestedThroughSeq = Math.max(digestedThroughSeq, d.body.toSeq);
  }
  return { digests: chosen.size, pins, digestedThroughSeq };
}

/**
 * DIGEST_MISSING for objects written more than `maxLagMs` ago that no valid digest
 * covers (one finding naming the range): the digester has stopped, or was stopped.
 */
export function checkDigestLag(
  c: Pick<ChainCheck, 'findings'>,
  objects: ReadonlyMap<number, CheckedObject>,
  digestedThroughSeq: number,
  now: Date,
  maxLagMs: number,
): void {
  const late: number[] = [];
  for (const [seq, o] of objects) {
    const written = o.header?.writtenAt;
    const t = written ? Date.parse(written) : o.scanned.version.lastModified.getTime();
    if (seq > digestedThroughSeq && now.getTime() - t > maxLagMs) late.push(seq);
  }
  if (late.length === 0) return;
  late.sort((a, b) => a - b);
  c.findings.add({
    code: 'DIGEST_MISSING',
    seq: late[0],
    message: `objects ${late[0]}..${late[late.length - 1]} are older than the digest lag and in no valid digest`,
  });
}
