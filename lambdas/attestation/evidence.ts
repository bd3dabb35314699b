/**
 * One entry point over the three evidence types, used by the CLI and the
 * workflow step: decode the file encoding, pick the verifier, and return claims in
 * a JSON-friendly shape (hex strings, ISO times).
 */
import { type NitroClaims, type NitroType, verifyNitroDocument } from './nitro.ts';
import { type AttestationPolicy, DEFAULT_POLICY } from './policy.ts';
import { AttestationError, reject } from './reasons.ts';
import { SNP_REPORT_SIZE, type SnpClaims, snpReportData, verifySnpReport } from './snp.ts';
import { parseSnpAttestationPb } from './snp-protobuf.ts';
import { type ChainCache, toHex } from './x509.ts';

export const EVIDENCE_TYPES = ['nitro-enclave', 'nitrotpm', 'sev-snp'] as const;
export type EvidenceType = (typeof EVIDENCE_TYPES)[number];
export type Encoding = 'auto' | 'raw' | 'base64' | 'hex';

const HEX_RE = /^[0-9a-fA-F]+$/;
const B64_RE = /^[A-Za-z0-9+/]+={0,2}$/;

/**
 * Decodes an evidence file. `auto`: text that is all hex is hex, text that is all
 * base64 is base64, anything else is raw bytes (binary CBOR and reports contain
 * bytes outside those alphabets).
 */
export function decodeEvidence(input: Uint8Array, encoding: Encoding = 'auto'): Uint8Array {
  if (encoding === 'raw') return input;
  const text = Buffer.from(input).toString('latin1').replace(/\s+/g, '');
  const asHex = () => {
    if (text.length % 2 !== 0 || !HEX_RE.test(text)) reject('MALFORMED', 'the evidence is not valid hex.');
    return Buffer.from(text, 'hex');
  };
  const asB64 = () => {
    if (text.length % 4 !== 0 || !B64_RE.test(text)) reject('MALFORMED', 'the evidence is not valid base64.');
    return Buffer.from(text, 'base64');
  };
  if (encoding === 'hex') return asHex();
  if (encoding === 'base64') return asB64();
  if (text.length > 0 && text.length % 2 === 0 && HEX_RE.test(text)) return asHex();
  if (text.length > 0 && text.length % 4 === 0 && B64_RE.test(text)) return asB64();
  return input;
}

export interface VerifyRequest {
  readonly type: EvidenceType;
  /** Decoded evidence: COSE_Sign1 bytes, a 1184-byte SNP report, or a go-sev-guest Attestation protobuf. */
  readonly evidence: Uint8Array;
  readonly at: Date;
  readonly policy?: AttestationPolicy;
  /** Nitro: the document nonce must equal it. SNP: with `sessionPublicKey`, report_data = SHA-512(nonce ‖ key). */
  readonly nonce?: Uint8Array;
  /**
   * Nitro: the instance the document must come from (module_id names its parent instance).
   * SEV-SNP reports name no instance; they are bound by the nonce only.
   */
  readonly instanceId?: string;
  /** SNP: SPKI DER of the key the guest wants secrets encrypted to. */
  readonly sessionPublicKey?: Uint8Array;
  /** SNP: exact report_data expected (alternative to nonce + key). */
  readonly expectedReportData?: Uint8Array;
  /** SNP: VCEK/VLEK (DER or PEM); defaults to the one inside a protobuf. */
  readonly leafCert?: Uint8Array;
  /** SNP: ASK/ASVK + ARK PEM bundle; defaults to the ones inside a protobuf. */
  readonly chain?: Uint8Array;
  readonly cache?: ChainCache;
}

export type Claims = NitroClaims | SnpClaims;

/** Verifies any supported evidence. Throws only AttestationError. */
export function verifyEvidence(req: VerifyRequest): Claims {
  if (!(req.at instanceof Date) || Number.isNaN(req.at.getTime()))
    reject('MALFORMED', 'the verification time is invalid.');
  const policy = req.policy ?? DEFAULT_POLICY;
  if (req.type === 'nitro-enclave' || req.type === 'nitrotpm') {
    return verifyNitroDocument(req.evidence, {
      type: req.type as NitroType,
      at: req.at,
      policy,
      ...(req.nonce ? { expectedNonce: req.nonce } : {}),
      ...(req.instanceId !== undefined ? { expectedInstanceId: req.instanceId } : {}),
      ...(req.cache ? { cache: req.cache } : {}),
    });
  }
  if (req.type !== 'sev-snp') reject('MALFORMED', `unknown evidence type "${String(req.type)}".`);
  let report = req.evidence;
  let leaf = req.leafCert;
  let chain: Uint8Array | Uint8Array[] | undefined = req.chain;
  if (report.length !== SNP_REPORT_SIZE) {
    const pb = parseSnpAttestationPb(report);
    report = pb.report;
    leaf ??= pb.vlekCert ?? pb.vcekCert;
    if (!chain && pb.askCert && pb.arkCert) chain = [pb.askCert, pb.arkCert];
  }
  if (!leaf) reject('MALFORMED', 'an SEV-SNP report needs its VCEK or VLEK certificate.');
  if (!chain) reject('MALFORMED', 'an SEV-SNP report needs the AMD chain (ASK or ASVK, then ARK).');
  let expected = req.expectedReportData;
  if (!expected && req.nonce) {
    if (!req.sessionPublicKey) reject('MALFORMED', 'an SEV-SNP nonce check needs the session public key.');
    expected = snpReportData(req.nonce, req.sessionPublicKey);
  }
  return verifySnpReport(report, {
    at: req.at,
    leafCert: leaf,
    chain,
    policy,
    ...(expected ? { expectedReportData: expected } : {}),
    ...(req.cache ? { cache: req.cache } : {}),
  });
}

/** Claims as plain JSON (hex for bytes, ISO for times) for `--json` and task output. */
export function claimsToJson(c: Claims): Record<string, unknown> {
  if (c.type === 'sev-snp') return { ...c };
  return {
    type: c.type,
    moduleId: c.moduleId,
    instanceId: c.instanceId,
    digest: c.digest,
    timestamp: new Date(c.timestamp).toISOString(),
    timestampMs: c.timestamp,
    debug: c.debug,
    pcrs: c.pcrs,
    publicKey: toHex(c.publicKey),
    userData: toHex(c.userData),
    nonce: toHex(c.nonce),
    leafFingerprint: c.leafFingerprint,
  };
}

export interface Verdict {
  readonly verdict: 'verified' | 'rejected';
  readonly reason: string | null;
  readonly message: string;
  readonly claims: Record<string, unknown> | null;
}

/** verifyEvidence as a verdict object; never throws for rejections. */
export function verdictOf(req: VerifyRequest): Verdict {
  try {
    const claims = verifyEvidence(req);
    return { verdict: 'verified', reason: null, message: 'The evidence verified.', claims: claimsToJson(claims) };
  } catch (e) {
    if (e instanceof AttestationError)
      return { verdict: 'rejected', reason: e.reason, message: e.message, claims: null };
    throw e;
  }
}
