/**
 * Chain layout and object format (the head store is in ./heads.ts).
 *
 * A chain is the ordered list of audit objects of one session (or the
 * control plane). Object `seq` of chain `c` lives at a key derived from (c, seq),
 * and its first line (the header) names the key, version id and SHA-256 of object
 * `seq - 1` (or, when keys were squatted, of the last object written before them,
 * and lists the skipped keys). So a chain verifies from the objects alone, without
 * trusting listing order, and a writer can never fork it: keys are created with
 * If-None-Match: *, so exactly one writer can create `seq`.
 */
export const CHAIN_OBJECT_FORMAT = 'aidops.audit.chain-object/1' as const;
export const DIGEST_FORMAT = 'aidops.audit.digest/1' as const;

/** First line of every chain object. */
export interface ChainHeader {
  readonly format: typeof CHAIN_OBJECT_FORMAT;
  readonly chain: string;
  readonly seq: number;
  /** Hex SHA-256 of the whole previous object of this chain; null for seq 1. */
  readonly prevObjectSha256: string | null;
  readonly prevKey: string | null;
  readonly prevVersionId: string | null;
  /**
   * Keys between `prevKey` and this one that held an object the writer did not
   * write when it tried to create them (squatted): the chain skips them. Absent when none.
   */
  readonly skippedKeys?: readonly string[];
  /** Number of event lines after the header. */
  readonly count: number;
  readonly writtenAt: string;
  readonly firstEventTime: string;
  readonly lastEventTime: string;
}

const SEQ_WIDTH = 12;

/** `''` or a prefix ending in `/`. */
export function normalizePrefix(prefix: string | undefined): string {
  if (!prefix) return '';
  return prefix.endsWith('/') ? prefix : `${prefix}/`;
}

const pad = (n: number) => String(n).padStart(SEQ_WIDTH, '0');

export function chainObjectKey(prefix: string, chain: string, seq: number): string {
  return `${normalizePrefix(prefix)}chains/${chain}/${pad(seq)}.jsonl`;
}

export function digestObjectKey(prefix: string, chain: string, digestSeq: number): string {
  return `${normalizePrefix(prefix)}digests/${chain}/${pad(digestSeq)}.json`;
}

const KEY_RE = /^(.*)(chains|digests)\/([A-Za-z0-9][A-Za-z0-9._:-]*)\/(\d{12})\.(jsonl|json)$/;

/** Parses a chain or digest key; null for anything else (foreign objects are reported, not trusted). */
export function parseAuditKey(
  prefix: string,
  key: string,
): { type: 'chain' | 'digest'; chain: string; seq: number } | null {
  const m = KEY_RE.exec(key);
  if (!m || m[1] !== normalizePrefix(prefix)) return null;
  const type = m[2] === 'chains' ? 'chain' : 'digest';
  if ((type === 'chain') !== (m[5] === 'jsonl')) return null;
  return { type, chain: m[3]!, seq: Number(m[4]) };
}

export interface ChainPointer {
  readonly key: string;
  readonly versionId: string;
  readonly sha256: string;
}

/** Header + event lines, newline-terminated. Event lines are already JSON. */
export function buildChainObject(
  chain: string,
  seq: number,
  prev: ChainPointer | null,
  eventLines: readonly string[],
  eventTimes: { first: string; last: string },
  writtenAt: Date,
  skippedKeys: readonly string[] = [],
): { header: ChainHeader; body: Buffer } {
  const header: ChainHeader = {
    format: CHAIN_OBJECT_FORMAT,
    chain,
    seq,
    prevObjectSha256: prev?.sha256 ?? null,
    prevKey: prev?.key ?? null,
    prevVersionId: prev?.versionId ?? null,
    ...(skippedKeys.length > 0 ? { skippedKeys: [...skippedKeys] } : {}),
    count: eventLines.length,
    writtenAt: writtenAt.toISOString(),
    firstEventTime: eventTimes.first,
    lastEventTime: eventTimes.last,
  };
  const body = Buffer.from(`${JSON.stringify(header)}\n${eventLines.join('\n')}\n`, 'utf8');
  return { header, body };
}

/** Parses and shape-checks a header line; null when it is not one. */
export function parseChainHeader(line: string): ChainHeader | null {
  let h: unknown;
  try {
    h = JSON.parse(line);
  } catch {
    return null;
  }
  if (!h || typeof h !== 'object') return null;
  const o = h as Record<string, unknown>;
  const strOrNull = (v: unknown) => v === null || typeof v === 'string';
  if (
    o.format !== CHAIN_OBJECT_FORMAT ||
    typeof o.chain !== 'string' ||
    !Number.isSafeInteger(o.seq) ||
    !strOrNull(o.prevObjectSha256) ||
    !strOrNull(o.prevKey) ||
    !strOrNull(o.prevVersionId) ||
    !Number.isSafeInteger(o.count) ||
    typeof o.writtenAt !== 'string' ||
    (o.skippedKeys !== undefined &&
      (!Array.isArray(o.skippedKeys) || !o.skippedKeys.every((k) => typeof k === 'string')))
  ) {
    return null;
  }
  return o as unknown as ChainHeader;
}

/**
 * Checks that `header` (at `seq` of `chain`) links to a predecessor the layout
 * allows: `prevKey` is this chain's object at some `p < seq` (or null, p = 0), and
 * `skippedKeys` names exactly the keys of p+1 .. seq-1. Returns p, or a reason.
 */
export function linkTarget(
  prefix: string,
  chain: string,
  seq: number,
  header: Pick<ChainHeader, 'prevKey' | 'prevObjectSha256' | 'prevVersionId' | 'skippedKeys'>,
): { prevSeq: number } | { reason: string } {
  let prevSeq = 0;
  if (header.prevKey !== null) {
    const p = parseAuditKey(prefix, header.prevKey);
    if (p?.type !== 'chain' || p.chain !== chain || p.seq >= seq || p.seq < 1) {
      return { reason: `links to ${header.prevKey}` };
    }
    if (!header.prevVersionId || !header.prevObjectSha256) return { reason: 'links without a version or hash' };
    prevSeq = p.seq;
  } else if (header.prevObjectSha256 !== null || header.prevVersionId !== null) {
    return { reason: 'has a predecessor hash but no predecessor key' };
  }
  const skipped = header.skippedKeys ?? [];
  if (skipped.length !== seq - 1 - prevSeq) {
    return {
      reason:
        prevSeq === 0 && skipped.length === 0
          ? 'claims no predecessor'
          : `skips ${skipped.length} key(s) between ${prevSeq} and ${seq}`,
    };
  }
  for (let i = 0; i < skipped.length; i++) {
    if (skipped[i] !== chainObjectKey(prefix, chain, prevSeq + 1 + i)) {
      return { reason: `names ${skipped[i]} as skipped` };
    }
  }
  return { prevSeq };
}
