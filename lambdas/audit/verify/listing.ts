/**
 * Listing: every version and delete marker under the audit prefix, grouped by
 * chain and seq. Keys outside the layout are findings (FOREIGN_OBJECT), never
 * trusted; the listing order itself is trusted for nothing.
 */
import { parseAuditKey } from '../chain.ts';
import type { Finding } from './findings.ts';
import type { AuditStore, VersionInfo } from './store.ts';

/** One chain's versions by seq: objects, digests, and the delete markers over each. */
export interface ChainListing {
  readonly objects: Map<number, VersionInfo[]>;
  readonly objectMarkers: Map<number, VersionInfo[]>;
  readonly digests: Map<number, VersionInfo[]>;
  readonly digestMarkers: Map<number, VersionInfo[]>;
}

export interface AuditListing {
  readonly chains: ReadonlyMap<string, ChainListing>;
  /** FOREIGN_OBJECT findings for keys under the prefix that are not part of the layout. */
  readonly foreign: readonly Finding[];
}

/** Only objects written in [from, to] (by S3 LastModified). */
export interface VerifyWindow {
  readonly from?: Date;
  readonly to?: Date;
}

/** Slack around the window: LastModified has 1 s resolution, and a batch is written after its events. */
export function inWindow(v: VersionInfo, w: VerifyWindow): boolean {
  return (
    (!w.from || v.lastModified.getTime() >= w.from.getTime() - 1000) &&
    (!w.to || v.lastModified.getTime() <= w.to.getTime() + 15 * 60_000)
  );
}

export function pushTo<K, V>(m: Map<K, V[]>, k: K, v: V): void {
  const a = m.get(k);
  if (a) a.push(v);
  else m.set(k, [v]);
}

/** Lists chain objects and digests under `prefix` (one chain when `session` is given). */
export async function listAudit(store: AuditStore, prefix: string, session?: string): Promise<AuditListing> {
  const chains = new Map<string, ChainListing>();
  const foreign: Finding[] = [];
  const chainOf = (c: string): ChainListing => {
    let l = chains.get(c);
    if (!l) {
      l = { objects: new Map(), objectMarkers: new Map(), digests: new Map(), digestMarkers: new Map() };
      chains.set(c, l);
    }
    return l;
  };
  const sub = session ? `${session}/` : '';
  for (const p of [`${prefix}chains/${sub}`, `${prefix}digests/${sub}`]) {
    for await (const v of store.listVersions(p)) {
      const parsed = parseAuditKey(prefix, v.key);
      if (!parsed) {
        foreign.push({
          code: 'FOREIGN_OBJECT',
          chain: '(bucket)',
          key: v.key,
          versionId: v.versionId,
          message: `object ${v.key} is not part of the audit layout`,
        });
        continue;
      }
      if (session && parsed.chain !== session) continue;
      const l = chainOf(parsed.chain);
      if (parsed.type === 'chain') pushTo(v.deleteMarker ? l.objectMarkers : l.objects, parsed.seq, v);
      else pushTo(v.deleteMarker ? l.digestMarkers : l.digests, parsed.seq, v);
    }
  }
  return { chains, foreign };
}
