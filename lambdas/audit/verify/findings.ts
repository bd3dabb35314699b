/**
 * What the verifier reports: the finding codes, what each means, and the
 * per-chain list they are collected in (sorted the way reports print them).
 */

export const FINDING_CODES = [
  'OBJECT_MODIFIED',
  'OBJECT_MISSING',
  'OBJECT_FORGED',
  'OBJECT_FOREIGN',
  'CHAIN_UNKNOWN',
  'OUT_OF_ORDER',
  'EXTRA_VERSION',
  'DELETE_MARKER',
  'DIGEST_MISSING',
  'DIGEST_FORGED',
  'DIGEST_WRONG_KEY',
  'RETENTION_TOO_SHORT',
  'NOT_LOCKED',
  'LOCK_MODE_WEAK',
  'FOREIGN_OBJECT',
  'TIME_MISMATCH',
] as const;
export type FindingCode = (typeof FINDING_CODES)[number];

/** What each finding means; printed by `aidops audit verify --help` and in docs/audit.md. */
export const FINDING_HELP: Record<FindingCode, string> = {
  OBJECT_MODIFIED:
    'bytes differ from the SHA-256 a digest or the next object recorded, or the pinned version was replaced',
  OBJECT_MISSING: 'an object a digest or the chain refers to (or a gap in seq) no longer exists',
  OBJECT_FORGED:
    'a chain object the writer never wrote: after the chain head, at a key the writer skipped, or off the links',
  OBJECT_FOREIGN: 'something that is not this chain object at a chain key the writer never wrote (a squatted key)',
  CHAIN_UNKNOWN: 'a chain that neither the head table nor a valid digest knows (a session that never existed)',
  OUT_OF_ORDER: 'an object sits at the wrong position: header seq/chain/prev link do not match its key',
  EXTRA_VERSION: 'a key has versions the writer never wrote (the writer creates each key once)',
  DELETE_MARKER: 'a delete marker hides an object (the locked version is still there)',
  DIGEST_MISSING: 'a digest is gone (gap in digest seq), or objects older than the allowed lag are in no digest',
  DIGEST_FORGED: 'a digest signature does not verify under the trusted key, or a digest was replaced',
  DIGEST_WRONG_KEY: 'a digest was signed by a key other than the trusted one',
  RETENTION_TOO_SHORT: 'a version is retained for less than the policy (retain-until < written + days)',
  NOT_LOCKED: 'a version has no Object Lock retention',
  LOCK_MODE_WEAK: 'a version is locked in GOVERNANCE mode (bypassable) where policy requires COMPLIANCE',
  FOREIGN_OBJECT: 'an object under the audit prefix that is neither a chain object nor a digest',
  TIME_MISMATCH:
    "a header's writtenAt (a digest's createdAt) differs from S3's LastModified by more than the tolerance",
};

export interface Finding {
  readonly code: FindingCode;
  readonly chain: string;
  readonly message: string;
  readonly key?: string;
  readonly versionId?: string;
  readonly seq?: number;
  readonly digestSeq?: number;
  readonly expected?: string;
  readonly actual?: string;
}

/** A finding before it is attributed to its chain. */
export type ChainFinding = Omit<Finding, 'chain'>;

/** The findings of one chain, in the order the checks found them. */
export class ChainFindings {
  readonly chain: string;
  readonly #list: Finding[] = [];
  constructor(chain: string) {
    this.chain = chain;
  }

  add(f: ChainFinding): void {
    this.#list.push({ chain: this.chain, ...f });
  }

  /** Object findings by seq, then digest findings by digest seq (ties keep the order found). */
  sorted(): Finding[] {
    return [...this.#list].sort(
      (a, b) =>
        Number(a.seq === undefined) - Number(b.seq === undefined) ||
        (a.seq ?? 0) - (b.seq ?? 0) ||
        (a.digestSeq ?? 0) - (b.digestSeq ?? 0),
    );
  }
}
