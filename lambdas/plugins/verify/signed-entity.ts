/** Facts about a signed entity the library has built: its verified signing times. */
import type { SignedEntity } from '@sigstore/verify';

/** Where a verified signing time comes from. */
export type TimeSource = 'timestamp-authority' | 'transparency-log';

export function timesOf(entity: SignedEntity): { at: Date; source: TimeSource }[] {
  const out: { at: Date; source: TimeSource }[] = [];
  for (const t of entity.timestamps) {
    if (t.$case === 'timestamp-authority') out.push({ at: t.timestamp.signingTime, source: t.$case });
    else if (t.tlogEntry.integratedTime && t.tlogEntry.integratedTime !== '0')
      out.push({ at: new Date(Number(t.tlogEntry.integratedTime) * 1000), source: t.$case });
  }
  return out;
}

/** True when any timestamp falls outside the leaf certificate's validity (the usual chain failure). */
export function timeOutsideLeaf(entity: SignedEntity): boolean {
  if (entity.key.$case !== 'certificate') return false;
  const leaf = entity.key.certificate;
  const from = leaf.notBefore.getTime();
  const to = leaf.notAfter.getTime();
  return timesOf(entity).some(({ at }) => at.getTime() < from || at.getTime() > to);
}
