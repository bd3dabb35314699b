/** The in-toto statement a DSSE bundle signs, and the artifact digest among its subjects. */
import { refuse } from '../errors.ts';
import { isObject } from '../json.ts';
import { type ArtifactInput, hex } from './artifact.ts';

export const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';

export interface InTotoStatement {
  readonly _type: string;
  readonly subject: readonly { name?: string; digest: Readonly<Record<string, string>> }[];
  readonly predicateType: string;
  readonly predicate: unknown;
}

/** Decodes and shape-checks an in-toto Statement (v0.1 or v1). */
export function parseStatement(payload: Buffer): InTotoStatement {
  let s: unknown;
  try {
    s = JSON.parse(payload.toString('utf8'));
  } catch {
    return refuse('STATEMENT_INVALID', 'DSSE payload is not JSON');
  }
  if (!isObject(s)) return refuse('STATEMENT_INVALID', 'statement is not an object');
  if (typeof s._type !== 'string' || !s._type.startsWith('https://in-toto.io/Statement/'))
    refuse('STATEMENT_INVALID', `unknown statement _type ${JSON.stringify(s._type)}`);
  if (typeof s.predicateType !== 'string') refuse('STATEMENT_INVALID', 'statement has no predicateType');
  if (!Array.isArray(s.subject) || s.subject.length === 0) refuse('STATEMENT_INVALID', 'statement has no subject');
  for (const sub of s.subject as unknown[]) {
    if (!isObject(sub) || !isObject(sub.digest) || !Object.values(sub.digest).every((v) => typeof v === 'string'))
      refuse('STATEMENT_INVALID', 'statement subject without a digest map');
  }
  return s as unknown as InTotoStatement;
}

/** Returns the digests (hex) of `artifact` that some subject claims, or fails DIGEST_MISMATCH. */
export function matchSubject(
  statement: InTotoStatement,
  artifact: ArtifactInput,
): { sha256?: string; sha512?: string } {
  const have: { sha256?: string; sha512?: string } = {
    ...(artifact.digests ?? {}),
    ...(artifact.bytes ? { sha256: hex('sha256', artifact.bytes), sha512: hex('sha512', artifact.bytes) } : {}),
  };
  for (const sub of statement.subject) {
    const matched: { sha256?: string; sha512?: string } = {};
    let ok = false;
    let contradicted = false;
    for (const alg of ['sha256', 'sha512'] as const) {
      const claim = sub.digest[alg]?.toLowerCase();
      const mine = have[alg]?.toLowerCase();
      if (claim === undefined || mine === undefined) continue;
      if (claim === mine) {
        ok = true;
        matched[alg] = mine;
      } else contradicted = true;
    }
    if (ok && !contradicted) return matched;
  }
  return refuse('DIGEST_MISMATCH', 'no statement subject carries the artifact digest', {
    subjects: statement.subject.map((s) => s.name ?? null),
  });
}
