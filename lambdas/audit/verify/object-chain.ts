/**
 * The object-chain check: a walk from the chain's head down through each
 * object's link. The head table pins the newest object (key, version, SHA-256);
 * each header pins the version and hash of its predecessor and names the keys it
 * skipped; a valid digest's pin wins over both. Every object on the walk is
 * hashed against its pin, so nothing after the last digest is taken on its own
 * word. Whatever sits at a chain key the walk never reaches (after the head, at a
 * skipped key) was not written by the writer: OBJECT_FORGED, or OBJECT_FOREIGN
 * when it is not even a chain object for that position. Without a head table
 * (offline), the walk starts at the highest object seen and its tail is unanchored.
 */
import { type ChainHeader, chainObjectKey, linkTarget, parseAuditKey, parseChainHeader } from '../chain.ts';
import type { ChainState } from '../heads.ts';
import type { ChainCheck, CheckedObject, ObjectPin } from './context.ts';
import type { ChainFinding } from './findings.ts';
import { type ChainListing, inWindow, type VerifyWindow } from './listing.ts';
import { checkLock, checkTime } from './lock.ts';
import { original } from './scan.ts';

export interface ObjectChainResult {
  /** Objects read on the chain. */
  readonly objects: number;
  /** Event lines in objects with a valid header. */
  readonly events: number;
  /** Where the walk started: the head (or a digest ahead of it); offline, the highest object seen. */
  readonly lastSeq: number;
  readonly checked: ReadonlyMap<number, CheckedObject>;
}

type Pin = { versionId: string; sha256: string; by: string };

export function checkObjectChain(
  c: ChainCheck,
  l: ChainListing,
  pins: ReadonlyMap<number, ObjectPin>,
  window: VerifyWindow,
  /** The chain's item in the head table; undefined when verifying without one. */
  state?: ChainState,
): ObjectChainResult {
  const { chain, prefix, findings } = c;
  const listed = new Set(
    [...l.objects.keys()].filter((seq) => (l.objects.get(seq) ?? []).some((v) => inWindow(v, window))),
  );
  // In a window, links into its first object are not checked, and what lies outside is not missing.
  const windowed = Boolean(window.from || window.to);
  const maxListed = maxOf(listed);
  let top: number;
  if (state) {
    const anchored = Math.max(state.head?.seq ?? 0, maxOf(pins.keys()));
    top = windowed ? Math.min(anchored, maxListed) : anchored;
  } else {
    top = windowed ? maxListed : Math.max(maxListed, maxOf(pins.keys()), maxOf(l.objectMarkers.keys()));
  }
  let minSeq = 1;
  if (windowed) {
    minSeq = top + 1;
    for (const seq of listed) minSeq = Math.min(minSeq, seq);
  }

  const checked = new Map<number, CheckedObject>();
  const onChain = new Set<number>();
  const skipped = new Set<number>();
  for (const k of state?.skipped ?? []) {
    const p = parseAuditKey(prefix, k);
    if (p?.type === 'chain' && p.chain === chain) skipped.add(p.seq);
  }
  let events = 0;
  let objects = 0;
  const markers = (seq: number, key: string) => {
    if ((l.objectMarkers.get(seq)?.length ?? 0) > 0) {
      findings.add({ code: 'DELETE_MARKER', seq, key, message: `a delete marker hides object ${seq}` });
    }
  };

  /** Checks the object at `seq` against its pin; returns its header when its link can be followed. */
  const visit = (seq: number, link: Pin | null): ChainHeader | null => {
    const key = chainObjectKey(prefix, chain, seq);
    const vs = c.scans.objects(chain, seq);
    const dPin = pins.get(seq);
    const pin: Pin | null = dPin ? { ...dPin, by: `digest ${dPin.digestSeq}` } : link;
    markers(seq, key);
    if (vs.length === 0) {
      // Listed but outside the window: not read, so neither checked nor missing.
      if (windowed && l.objects.has(seq)) return null;
      findings.add({
        code: 'OBJECT_MISSING',
        seq,
        key,
        versionId: pin?.versionId,
        message: `object ${seq} of chain ${chain} is missing`,
      });
      return null;
    }
    let s = pin ? vs.find((x) => x.version.versionId === pin.versionId) : undefined;
    // The pinned version was deleted and something else put there (same bytes or not).
    const replaced = Boolean(pin && !s);
    s ??= original(vs, (x) => {
      const h = parseChainHeader(x.firstLine);
      return h?.chain === chain && h.seq === seq;
    })!;
    const header: ChainHeader | null = parseChainHeader(s.firstLine);
    checked.set(seq, { scanned: s, header });
    objects++;
    if (header) events += Math.max(0, s.lines - 1);
    let flagged = false;
    const modified = (f: Omit<ChainFinding, 'code' | 'seq' | 'key'>) => {
      findings.add({ code: 'OBJECT_MODIFIED', seq, key, ...f });
      flagged = true;
    };
    if (header && (header.chain !== chain || header.seq !== seq)) {
      findings.add({
        code: 'OUT_OF_ORDER',
        seq,
        key,
        expected: `${chain}#${seq}`,
        actual: `${header.chain}#${header.seq}`,
        message: `object at ${key} is object ${header.seq} of chain ${header.chain}`,
      });
      flagged = true;
    } else if (replaced) {
      modified({
        expected: `${pin!.versionId} sha256=${pin!.sha256}`,
        actual: vs.map((x) => `${x.version.versionId} sha256=${x.sha256}`).join(', '),
        message: `object ${seq} was replaced: version ${pin!.versionId} is gone`,
      });
    } else if (pin?.sha256 && pin.sha256 !== s.sha256) {
      modified({
        versionId: s.version.versionId,
        expected: pin.sha256,
        actual: s.sha256,
        message: `object ${seq} does not match the SHA-256 ${pin.by} recorded`,
      });
    } else if (!header) {
      modified({ versionId: s.version.versionId, message: `object ${seq} has no valid header` });
    } else if (header.count !== s.lines - 1) {
      modified({
        versionId: s.version.versionId,
        expected: `${header.count} events`,
        actual: `${s.lines - 1} lines`,
        message: `object ${seq} has a different number of events than its header says`,
      });
    }
    if (vs.length > 1 && !flagged) {
      findings.add({
        code: 'EXTRA_VERSION',
        seq,
        key,
        actual: vs.map((x) => x.version.versionId).join(','),
        message: `object ${seq} has ${vs.length} versions; the writer creates each key once`,
      });
    }
    // S3's clock, not the header's: a header can say anything.
    checkLock(findings, s, s.version.lastModified, { seq }, c.policy);
    if (header) checkTime(findings, s, header.writtenAt, 'writtenAt', { seq }, c.policy);
    return header && !flagged ? header : null;
  };

  const head = state?.head;
  let link: Pin | null = head && head.seq === top ? { ...head, by: 'the chain head' } : null;
  for (let seq = top; seq >= minSeq; ) {
    onChain.add(seq);
    const header = visit(seq, link);
    link = null;
    let next = seq - 1;
    if (header) {
      const key = chainObjectKey(prefix, chain, seq);
      const t = linkTarget(prefix, chain, seq, header);
      let jumped: number | undefined;
      const from = 'prevSeq' in t ? t.prevSeq + 1 : seq;
      for (let p = from; p < seq && jumped === undefined; p++) {
        if (pins.has(p)) jumped = p;
      }
      if ('reason' in t || jumped !== undefined) {
        findings.add({
          code: 'OUT_OF_ORDER',
          seq,
          key,
          expected: seq > 1 ? chainObjectKey(prefix, chain, seq - 1) : undefined,
          actual: String(header.prevKey),
          message:
            'reason' in t
              ? `object ${seq} ${t.reason}`
              : `object ${seq} skips object ${jumped}, which digest ${pins.get(jumped!)!.digestSeq} covers`,
        });
      } else {
        for (let s = t.prevSeq + 1; s < seq; s++) skipped.add(s);
        next = t.prevSeq;
        if (t.prevSeq > 0)
          link = { versionId: header.prevVersionId!, sha256: header.prevObjectSha256!, by: `object ${seq}` };
      }
    }
    seq = next;
  }

  // Versions no walk accounts for: the writer never wrote them.
  for (const seq of [...l.objects.keys()].sort((a, b) => a - b)) {
    if (onChain.has(seq) || (windowed && !listed.has(seq))) continue;
    const key = chainObjectKey(prefix, chain, seq);
    markers(seq, key);
    const where = skipped.has(seq)
      ? 'at a key the writer skipped'
      : seq > top
        ? `after the chain head (object ${top})`
        : 'off the chain';
    for (const v of c.scans.objects(chain, seq)) {
      // The write a writer claimed (with this very hash) and has not committed yet: in flight, not forged.
      if (state?.claim?.seq === seq && state.claim.sha256 === v.sha256) continue;
      const h = parseChainHeader(v.firstLine);
      const forged = h?.chain === chain && h.seq === seq;
      findings.add({
        code: forged ? 'OBJECT_FORGED' : 'OBJECT_FOREIGN',
        seq,
        key,
        versionId: v.version.versionId,
        actual: `sha256=${v.sha256}`,
        message: `${forged ? `object ${seq}` : `an object that is not object ${seq}`} ${where}: the writer never wrote it`,
      });
    }
  }
  return { objects, events, lastSeq: top, checked };
}

/** The largest number (0 when none), without spreading a possibly huge list into arguments. */
function maxOf(xs: Iterable<number>): number {
  let m = 0;
  for (const x of xs) if (x > m) m = x;
  return m;
}
