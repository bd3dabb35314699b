/** The Fulcio certificate extensions of a verified signer, by name (source repository, ref, workflow, …). */
import type { Signer } from '@sigstore/verify';

/** Fulcio certificate extensions (OIDs 1.3.6.1.4.1.57264.1.*) by name. */
export type FulcioExtensions = Partial<Record<(typeof FULCIO_OIDS)[keyof typeof FULCIO_OIDS], string>>;

/** Fulcio extension OIDs → field names (v1 raw strings .1–.6, v2 DER UTF8String .8–.22). */
export const FULCIO_OIDS = {
  '1.3.6.1.4.1.57264.1.1': 'issuerV1',
  '1.3.6.1.4.1.57264.1.2': 'githubWorkflowTrigger',
  '1.3.6.1.4.1.57264.1.3': 'githubWorkflowSha',
  '1.3.6.1.4.1.57264.1.4': 'githubWorkflowName',
  '1.3.6.1.4.1.57264.1.5': 'githubWorkflowRepository',
  '1.3.6.1.4.1.57264.1.6': 'githubWorkflowRef',
  '1.3.6.1.4.1.57264.1.8': 'issuer',
  '1.3.6.1.4.1.57264.1.9': 'buildSignerURI',
  '1.3.6.1.4.1.57264.1.10': 'buildSignerDigest',
  '1.3.6.1.4.1.57264.1.11': 'runnerEnvironment',
  '1.3.6.1.4.1.57264.1.12': 'sourceRepositoryURI',
  '1.3.6.1.4.1.57264.1.13': 'sourceRepositoryDigest',
  '1.3.6.1.4.1.57264.1.14': 'sourceRepositoryRef',
  '1.3.6.1.4.1.57264.1.15': 'sourceRepositoryIdentifier',
  '1.3.6.1.4.1.57264.1.16': 'sourceRepositoryOwnerURI',
  '1.3.6.1.4.1.57264.1.17': 'sourceRepositoryOwnerIdentifier',
  '1.3.6.1.4.1.57264.1.18': 'buildConfigURI',
  '1.3.6.1.4.1.57264.1.19': 'buildConfigDigest',
  '1.3.6.1.4.1.57264.1.20': 'buildTrigger',
  '1.3.6.1.4.1.57264.1.21': 'runInvocationURI',
  '1.3.6.1.4.1.57264.1.22': 'sourceRepositoryVisibilityAtSigning',
} as const;

const V1_RAW_OIDS = new Set(['1', '2', '3', '4', '5', '6'].map((n) => `1.3.6.1.4.1.57264.1.${n}`));

/** Reads a DER UTF8String (or any short primitive TLV) and returns its content as text. */
function derString(value: Buffer): string | undefined {
  if (value.length < 2) return undefined;
  let len = value[1] ?? 0;
  let off = 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 3 || value.length < 2 + n) return undefined;
    len = 0;
    for (let i = 0; i < n; i++) len = (len << 8) | (value[2 + i] ?? 0);
    off = 2 + n;
  }
  if (off + len > value.length) return undefined;
  return value.subarray(off, off + len).toString('utf8');
}

/** Names the Fulcio extensions of a verified signer; unknown OIDs are ignored. */
export function fulcioExtensions(signer: Signer): FulcioExtensions {
  const out: Record<string, string> = {};
  for (const { oid, value } of signer.identity?.oids ?? []) {
    const dotted = oid?.id.join('.') ?? '';
    const name = (FULCIO_OIDS as Record<string, string>)[dotted];
    if (!name) continue;
    const buf = Buffer.from(value);
    const text = V1_RAW_OIDS.has(dotted) ? buf.toString('utf8') : derString(buf);
    if (text !== undefined) out[name] = text;
  }
  return out as FulcioExtensions;
}
