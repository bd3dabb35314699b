/**
 * The object-chain check: every object of a chain, newest first, so each header
 * pins the version and hash of its predecessor. A valid digest's pin wins over a
 * header's. Reports missing, replaced, modified, misplaced and extra versions,
 * and each chosen version's lock.
 */
import { type ChainHeader, chainObjectKey, parseChainHeader } from '../chain.ts';
import type { ChainCheck, CheckedObject, ObjectPin } from './context.ts';
import type { ChainFinding } from './findings.ts';
import { type ChainListing, inWindow, type VerifyWindow } from './listing.ts';
import { checkLock } from './lock.ts';
import { original } from './scan.ts';

export interface ObjectChainResult {
  /** Objects read. */
  readonly objects: number;
  /** Event lines in objects with a valid header. */
  readonly events: number;
  /** Highest seq listed (or pinned, or hidden by a marker, outside a window). */
  readonly lastSeq: number;
  readonly checked: ReadonlyMap<number, CheckedObject>;
}

type Pin = { key: string | null; versionId: string | null; sha256: string | null };

export function checkObjectChain(
  c: ChainCheck,
  l: ChainListing,
  pins: ReadonlyMap<number, ObjectPin>,
  window: VerifyWindow,
): ObjectChainResult {
  const { chain, prefix, findings } = c;
  const listedSeqs = [...l.objects.keys()].filter((seq) => (l.objects.get(seq) ?? []).some((v) => inWindow(v, window)));
  // In a window, links into its first object are not checked, and what lies outside is not missing.
  const windowed = Boolean(window.from || window.to);
  const maxSeq = Math.max(
    0,
    ...listedSeqs,
    ...(windowed ? [] : pins.keys()),
    ...(windowed ? [] : l.objectMarkers.keys()),
  );
  const minSeq = windowed ? Math.min(...listedSeqs, maxSeq + 1) : 1;
  const checked = new Map<number, CheckedObject>();
  const flagged = new Set<number>();
  let events = 0;
  let objects = 0;
  let headerPin: Pin | null = null;
  for (let seq = maxSeq; seq >= minSeq; seq--) {
    const key = chainObjectKey(prefix, chain, seq);
    const vs = c.scans.objects(chain, seq);
    const dPin = pins.get(seq);
    const hPin = headerPin?.key === key ? headerPin : null;
    const pin = dPin ?? (hPin?.versionId ? { versionId: hPin.versionId, sha256: hPin.sha256 ?? '' } : null);
    headerPin = null;
    if ((l.objectMarkers.get(seq)?.length ?? 0) > 0) {
      findings.add({ code: 'DELETE_MARKER', seq, key, message: `a delete marker hides object ${seq}` });
    }
    if (vs.length === 0) {
      findings.add({
        code: 'OBJECT_MISSING',
        seq,
        key,
        versionId: pin?.versionId,
        message: `object ${seq} of chain ${chain} is missing`,
      });
      flagged.add(seq);
      continue;
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
    const modified = (f: Omit<ChainFinding, 'code' | 'seq' | 'key'>) => {
      findings.add({ code: 'OBJECT_MODIFIED', seq, key, ...f });
      flagged.add(seq);
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
      flagged.add(seq);
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
        message: `object ${seq} does not match the SHA-256 ${dPin ? `digest ${dPin.digestSeq}` : `object ${seq + 1}`} recorded`,
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
    if (vs.length > 1 && !flagged.has(seq)) {
      findings.add({
        code: 'EXTRA_VERSION',
        seq,
        key,
        actual: vs.map((x) => x.version.versionId).join(','),
        message: `object ${seq} has ${vs.length} versions; the writer creates each key once`,
      });
    }
    checkLock(findings, s, header ? new Date(header.writtenAt) : s.version.lastModified, { seq }, c.policy);
    if (!header || flagged.has(seq)) continue;
    if (seq === 1 && (header.prevKey !== null || header.prevObjectSha256 !== null)) {
      findings.add({ code: 'OUT_OF_ORDER', seq, key, message: `object 1 claims a predecessor (${header.prevKey})` });
      flagged.add(seq);
    } else if (seq > 1 && header.prevKey !== chainObjectKey(prefix, chain, seq - 1)) {
      findings.add({
        code: 'OUT_OF_ORDER',
        seq,
        key,
        expected: chainObjectKey(prefix, chain, seq - 1),
        actual: String(header.prevKey),
        message: `object ${seq} links to ${header.prevKey}`,
      });
      flagged.add(seq);
    } else if (seq > 1) {
      headerPin = { key: header.prevKey, versionId: header.prevVersionId, sha256: header.prevObjectSha256 };
    }
  }
  return { objects, events, lastSeq: maxSeq, checked };
}
