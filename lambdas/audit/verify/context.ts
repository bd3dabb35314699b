/** What the per-chain checks read, where they report, and what they hand each other. */
import type { ChainHeader } from '../chain.ts';
import type { ChainFindings } from './findings.ts';
import type { VerifyPolicy } from './lock.ts';
import type { ScanIndex, Scanned } from './scan.ts';
import type { Trust } from './trust.ts';

export interface ChainCheck {
  readonly chain: string;
  /** The normalized audit prefix (`''` or ending in `/`). */
  readonly prefix: string;
  readonly scans: ScanIndex;
  readonly trust: Trust;
  readonly policy: VerifyPolicy;
  readonly findings: ChainFindings;
}

/** What a valid digest recorded of one chain object (digest chain → object chain). */
export interface ObjectPin {
  readonly key: string;
  readonly versionId: string;
  readonly sha256: string;
  readonly digestSeq: number;
}

/** The version of one chain object the object check settled on, and its header (object chain → digest lag). */
export interface CheckedObject {
  readonly scanned: Scanned;
  readonly header: ChainHeader | null;
}
