/**
 * The digest-chain check: every digest of a chain, newest first, so each one is
 * read at the version its successor pinned (the newest at the version the head
 * table's digest head names); its signature under the trusted key, its position,
 * its lock. Valid digests then pin the objects they list.
 */
import { digestObjectKey } from '../chain.ts';
import { type ParsedDigest, parseDigest } from '../digest-format.ts';
import type { DigestHead } from '../heads.ts';
import type { ChainCheck, CheckedObject, ObjectPin } from './context.ts';
import type { ChainListing } from './listing.ts';
import { checkLock, checkTime } from './lock.ts';
import { original, type Scanned } from './scan.ts';
import { verifyDigestSignature } from './trust.ts';

export interface DigestChainResult {
  /** Digests read (valid or not). */
  readonly digests: number;
  /** Chain seq → what the signer of a valid digest saw. */
  readonly pins: ReadonlyMap<number, ObjectPin>;
  /** Highest seq covered by a valid digest (0: none). */
  readonly digestedThroughSeq: number;
  /** Digests whose signature verified under the trusted key. */
  readonly valid: number;
}

type Pin = { key: string | null; versionId: string | null; sha256: string | null };

export function checkDigestChain(
  c: ChainCheck,
  l: ChainListing,
  /** The head table's digest head: pins the newest digest as the digests pin each other. */
  digestHead?: DigestHead | null,
): DigestChainResult {
  const { chain, findings } = c;
  const maxD = Math.max(0, ...l.digests.keys(), ...l.digestMarkers.keys(), digestHead?.digestSeq ?? 0);
  const chosen = new Map<number, { s: Scanned; d: ParsedDigest | null }>();
  const bad = new Set<number>();
  let pinD: Pin | null = digestHead ?? null;
  for (let ds = maxD; ds >= 1; ds--) {
    const vs = c.scans.digests(chain, ds);
    const key = digestObjectKey(c.prefix, chain, ds);
    const pinnedVersion = pinD?.key === key ? pinD.versionId : null;
    let s: Scanned | undefined;
    if (pinnedVersion) {
      s = vs.find((x) => x.version.versionId === pinnedVersion);
      if (!s && vs.length > 0) {
        s = original(vs);
        const replacement = parseDigest(s!.content ?? Buffer.alloc(0));
        const by = ds === maxD && digestHead?.key === key ? 'the head table' : `digest ${ds + 1}`;
        // Replaced by a digest another key signed: say whose (the more specific finding).
        const otherKey =
          replacement !== null &&
          replacement.body.publicKeySha256 !== c.trust.publicKeySha256 &&
          !verifyDigestSignature(replacement, c.trust);
        findings.add({
          code: otherKey ? 'DIGEST_WRONG_KEY' : 'DIGEST_FORGED',
          digestSeq: ds,
          key,
          expected: otherKey ? (c.trust.keyId ?? c.trust.publicKeySha256) : pinnedVersion,
          actual: otherKey
            ? (replacement.signature.signingKeyId ?? replacement.body.publicKeySha256)
            : vs.map((x) => x.version.versionId).join(','),
          message: otherKey
            ? `digest ${ds} was replaced by one signed by another key (${replacement.signature.signingKeyId})`
            : `digest ${ds} was replaced: the version ${by} pinned is gone`,
        });
        bad.add(ds);
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
        versionId: pinnedVersion ?? undefined,
        message: `digest ${ds} of chain ${chain} is missing`,
      });
      bad.add(ds);
      // A pin on an older digest (a digest key someone else squatted was skipped) still holds.
      if (pinD?.key === key) pinD = null;
      continue;
    }
    const d = parseDigest(s.content ?? Buffer.alloc(0));
    chosen.set(ds, { s, d });
    if (!d) {
      findings.add({ code: 'DIGEST_FORGED', digestSeq: ds, key, message: `digest ${ds} is not a readable digest` });
      bad.add(ds);
      if (pinD?.key === key) pinD = null;
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
    checkLock(findings, s, s.version.lastModified, { digestSeq: ds }, c.policy);
    if (sigOk && !bad.has(ds))
      checkTime(findings, s, String(d.body.createdAt), 'createdAt', { digestSeq: ds }, c.policy);
    pinD = sigOk
      ? { key: d.body.prevDigestKey, versionId: d.body.prevDigestVersionId, sha256: d.body.prevDigestSha256 }
      : null;
  }

  const pins = new Map<number, ObjectPin>();
  let digestedThroughSeq = 0;
  let valid = 0;
  for (const [ds, { d }] of chosen) {
    if (!d || bad.has(ds)) continue;
    valid++;
    for (const o of d.body.objects) pins.set(o.seq, { ...o, digestSeq: ds });
    digestedThroughSeq = Math.max(digestedThroughSeq, d.body.toSeq);
  }
  return { digests: chosen.size, pins, digestedThroughSeq, valid };
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
    // S3's time: a header dated in the future must not keep an object "recent" forever.
    const t = o.scanned.version.lastModified.getTime();
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
