/**
 * AMD SEV-SNP ATTESTATION_REPORT verification (report versions 2, 3 and 5).
 *
 * Steps, in order (the first failure names the reason):
 *  1. structure: 1184 bytes, known version, signature_algo 1 (ECDSA P-384/SHA-384),
 *     every reserved (must-be-zero) range zero, policy bit 17 set, signing key VCEK or VLEK.
 *  2. signer kind: `signer_info` says VCEK or VLEK; the supplied leaf must be that kind.
 *  3. chain: VCEK←ASK←ARK or VLEK←ASVK←ARK (RSASSA-PSS); the ARK must be one of
 *     the pinned Milan/Genoa/Turin roots (by SHA-256), products must agree, every
 *     certificate valid at `at`.
 *  4. the leaf's TCB extensions equal `reported_tcb`; a VCEK's hwID equals `chip_id`.
 *  5. ECDSA P-384 over report[0x000..0x29F], r and s little-endian 72-byte fields.
 *  6. policy: DEBUG, migration agent, VMPL, TCB floor, measurement allowlist.
 *  7. binding: report_data equals the expected value, normally
 *     SHA-512(nonce ‖ session public key SPKI DER) (see `snpReportData`).
 */
import { createHash, verify as cryptoVerify, type KeyObject, timingSafeEqual } from 'node:crypto';
import { certExtensions, derString, derUint } from './der.ts';
import { type AttestationPolicy, DEFAULT_POLICY } from './policy.ts';
import { reject } from './reasons.ts';
import {
  type CachedCa,
  type ChainCache,
  certsFromPemOrDer,
  checkWindow,
  commonName as cn,
  ecCurve,
  intersect,
  issuedBy,
  type ParsedCert,
  parseDer,
  sha256Hex,
  toHex,
} from './x509.ts';

/** SHA-256 fingerprints of the AMD Root Keys (ARK), computed from AMD KDS `cert_chain`. */
export const AMD_ARK_SHA256 = {
  Milan: '69d063b45344d26a2e94e1f4210de49ef555308287d4c174445c95639a540bcd',
  Genoa: '4c6598d19c18719c5dfd4a7d335f674e5bfe1d8f800cea2cf270c10d103db2f1',
  Turin: '1f084161a44bb6d93778a904877d4819cafa5d05ef4193b2ded9dd9c73dd3f6a',
} as const;
export type SnpProduct = keyof typeof AMD_ARK_SHA256;
const ARK_BY_FP = new Map<string, SnpProduct>(
  Object.entries(AMD_ARK_SHA256).map(([p, fp]) => [fp, p as SnpProduct] as const),
);

export const SNP_REPORT_SIZE = 0x4a0;
const SIGNED_END = 0x2a0;
const SUPPORTED_VERSIONS = new Set([2, 3, 5]);

export type SignerKind = 'VCEK' | 'VLEK';

export interface Tcb {
  readonly bootloader: number;
  readonly tee: number;
  readonly snp: number;
  readonly microcode: number;
  /** Turin only. */
  readonly fmc?: number;
  /** The raw 64-bit value as hex (little-endian field read as a number). */
  readonly raw: string;
}

export interface SnpClaims {
  readonly type: 'sev-snp';
  readonly version: number;
  readonly product: SnpProduct;
  readonly signerKind: SignerKind;
  readonly guestSvn: number;
  readonly policy: string;
  readonly debug: boolean;
  readonly migrationAgent: boolean;
  readonly vmpl: number;
  readonly measurement: string;
  readonly reportData: string;
  readonly hostData: string;
  readonly reportId: string;
  readonly chipId: string;
  readonly reportedTcb: Tcb;
  readonly currentTcb: Tcb;
  readonly firmware: string;
  /** CSP identity from a VLEK (e.g. CN=cc-us-east-2.amazonaws.com). */
  readonly cspId: string | null;
  readonly leafFingerprint: string;
}

export interface SnpVerifyOptions {
  readonly at: Date;
  /** The VCEK or VLEK (DER or PEM). */
  readonly leafCert: Uint8Array;
  /** PEM bundle: the ASK or ASVK, then the ARK (AMD KDS `cert_chain`); or those two DERs. */
  readonly chain: Uint8Array | readonly Uint8Array[];
  /** @default DEFAULT_POLICY */
  readonly policy?: AttestationPolicy;
  /** Exact 64-byte report_data expected (e.g. `snpReportData(nonce, publicKey)`). */
  readonly expectedReportData?: Uint8Array;
  /** Warm path: ASK/ASVK and ARK verified before are not re-verified. */
  readonly cache?: ChainCache;
}

function u32(r: Uint8Array, o: number): number {
  return ((r[o] ?? 0) | ((r[o + 1] ?? 0) << 8) | ((r[o + 2] ?? 0) << 16) | ((r[o + 3] ?? 0) << 24)) >>> 0;
}
function u64(r: Uint8Array, o: number): bigint {
  return BigInt(u32(r, o)) | (BigInt(u32(r, o + 4)) << 32n);
}
function zeroRange(r: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (r[i] !== 0) return false;
  return true;
}

export function decodeTcb(r: Uint8Array, o: number, product: SnpProduct): Tcb {
  const b = (i: number) => r[o + i] ?? 0;
  const raw = u64(r, o).toString(16).padStart(16, '0');
  if (product === 'Turin') return { fmc: b(0), bootloader: b(1), tee: b(2), snp: b(3), microcode: b(7), raw };
  return { bootloader: b(0), tee: b(1), snp: b(6), microcode: b(7), raw };
}

/** Checks the layout and must-be-zero ranges; returns the signer kind the report names. */
export function checkSnpStructure(r: Uint8Array): { version: number; signerKind: SignerKind } {
  if (!(r instanceof Uint8Array) || r.length !== SNP_REPORT_SIZE)
    reject('MALFORMED', `an SEV-SNP report is ${SNP_REPORT_SIZE} bytes (got ${r?.length}).`);
  const version = u32(r, 0x000);
  if (!SUPPORTED_VERSIONS.has(version)) reject('UNSUPPORTED', `report version ${version} (supported: 2, 3, 5).`);
  if (u32(r, 0x034) !== 1) reject('UNSUPPORTED', `signature_algo ${u32(r, 0x034)} (only 1, ECDSA P-384).`);
  const policy = u64(r, 0x008);
  if (((policy >> 17n) & 1n) !== 1n) reject('MALFORMED', 'guest policy bit 17 (reserved, must be one) is zero.');
  if (u32(r, 0x030) > 3) reject('MALFORMED', `vmpl ${u32(r, 0x030)} is out of range.`);
  const signerInfo = u32(r, 0x048);
  if (signerInfo >>> 5 !== 0) reject('MALFORMED', 'signer_info reserved bits are set.');
  if (signerInfo & 0x2) reject('SIGNATURE_INVALID', 'MASK_CHIP_KEY is set, so the report is not signed.');
  const sk = (signerInfo >> 2) & 0x7;
  if (sk !== 0 && sk !== 1) reject('WRONG_SIGNER_KIND', `signing_key ${sk} is neither VCEK (0) nor VLEK (1).`);
  const zero: [number, number][] = [
    [0x04c, 0x050],
    [0x18b, 0x1a0],
    [0x1eb, 0x1ec],
    [0x1ef, 0x1f0],
    [version >= 5 ? 0x208 : 0x1f8, SIGNED_END],
    // r and s are 72-byte fields holding 48-byte values.
    [0x2a0 + 48, 0x2a0 + 72],
    [0x2e8 + 48, 0x2e8 + 72],
    [0x330, SNP_REPORT_SIZE],
  ];
  if (version < 3) zero.push([0x188, 0x18b]);
  for (const [a, b] of zero)
    if (!zeroRange(r, a, b))
      reject('MALFORMED', `reserved bytes 0x${a.toString(16)}..0x${(b - 1).toString(16)} are not zero.`);
  return { version, signerKind: sk === 0 ? 'VCEK' : 'VLEK' };
}

// ---------------------------------------------------------------- AMD certificate extensions

const OID_PREFIX = '1.3.6.1.4.1.3704.1.';
const SPL_OIDS = {
  bootloader: `${OID_PREFIX}3.1`,
  tee: `${OID_PREFIX}3.2`,
  snp: `${OID_PREFIX}3.3`,
  microcode: `${OID_PREFIX}3.8`,
  fmc: `${OID_PREFIX}3.9`,
} as const;
const OID_HWID = `${OID_PREFIX}4`;
const OID_CSPID = `${OID_PREFIX}5`;

// ---------------------------------------------------------------- chain

interface VerifiedChain {
  readonly intermediate: CachedCa;
  readonly product: SnpProduct;
}

function verifyAmdChain(
  chainBytes: Uint8Array | readonly Uint8Array[],
  kind: SignerKind,
  at: Date,
  cache?: ChainCache,
): VerifiedChain {
  const ders = chainBytes instanceof Uint8Array ? certsFromPemOrDer(chainBytes, 'the AMD chain') : [...chainBytes];
  if (ders.length !== 2)
    reject('MALFORMED', `the AMD chain must hold 2 certificates (ASK or ASVK, then ARK), got ${ders.length}.`);
  const [interDer, arkDer] = ders as [Uint8Array, Uint8Array];
  const arkFp = sha256Hex(arkDer);
  const product = ARK_BY_FP.get(arkFp);
  if (!product) reject('CHAIN_UNTRUSTED', `the ARK (sha256 ${arkFp.slice(0, 16)}…) is not a pinned AMD root.`);
  const wantCn = kind === 'VCEK' ? `SEV-${product}` : `SEV-VLEK-${product}`;
  const interFp = sha256Hex(interDer);
  const hit = cache?.get(interFp);
  if (hit && hit.issuerFp === arkFp && cn(hit.cert.x509.subject) === wantCn) {
    checkWindow(hit.window, at, 'the AMD chain is');
    return { intermediate: hit, product };
  }
  const ark = parseDer(arkDer, 'the ARK');
  const inter = parseDer(interDer, kind === 'VCEK' ? 'the ASK' : 'the ASVK');
  if (!issuedBy(ark, ark)) reject('CHAIN_UNTRUSTED', 'the ARK is not self-signed.');
  const interCn = cn(inter.x509.subject);
  if (interCn !== wantCn)
    reject('CHAIN_UNTRUSTED', `a ${kind} needs the ${wantCn} intermediate, the chain holds "${interCn.slice(0, 40)}".`);
  if (!inter.x509.ca) reject('CHAIN_UNTRUSTED', `${interCn} is not a CA certificate.`);
  if (!issuedBy(inter, ark)) reject('CHAIN_UNTRUSTED', `${interCn} is not signed by ARK-${product}.`);
  const entry: CachedCa = { cert: inter, issuerFp: arkFp, window: intersect(ark, inter) };
  cache?.set(interFp, entry);
  checkWindow(entry.window, at, 'the AMD chain is');
  return { intermediate: entry, product };
}

// ---------------------------------------------------------------- verify

/** The control plane's binding: report_data = SHA-512(nonce ‖ session public key as SPKI DER). */
export function snpReportData(nonce: Uint8Array, publicKeySpkiDer: Uint8Array): Uint8Array {
  return createHash('sha512').update(nonce).update(publicKeySpkiDer).digest();
}

/** Verifies an SEV-SNP report; returns its claims or throws AttestationError (and nothing else). */
export function verifySnpReport(report: Uint8Array, opts: SnpVerifyOptions): SnpClaims {
  try {
    return verifyInner(report, opts);
  } catch (e) {
    if ((e as Error)?.name === 'AttestationError') throw e;
    return reject('MALFORMED', `unexpected failure while parsing: ${(e as Error)?.message ?? String(e)}`);
  }
}

function verifyInner(r: Uint8Array, opts: SnpVerifyOptions): SnpClaims {
  const policy = opts.policy ?? DEFAULT_POLICY;
  const { version, signerKind } = checkSnpStructure(r);

  const leafDer = certsFromPemOrDer(opts.leafCert, 'the VCEK/VLEK')[0]!;
  const leaf: ParsedCert = parseDer(leafDer, `the ${signerKind}`);
  const leafCn = cn(leaf.x509.subject);
  const exts = certExtensions(leafDer);
  const leafKind: SignerKind | undefined =
    leafCn === 'SEV-VCEK' && exts.has(OID_HWID)
      ? 'VCEK'
      : leafCn === 'SEV-VLEK' && exts.has(OID_CSPID)
        ? 'VLEK'
        : undefined;
  if (!leafKind) reject('WRONG_SIGNER_KIND', `the leaf "${leafCn.slice(0, 40)}" is neither a VCEK nor a VLEK.`);
  if (leafKind !== signerKind)
    reject('WRONG_SIGNER_KIND', `signer_info names a ${signerKind}, a ${leafKind} was supplied.`);

  const chain = verifyAmdChain(opts.chain, signerKind, opts.at, opts.cache);
  if (!issuedBy(leaf, chain.intermediate.cert))
    reject('CHAIN_UNTRUSTED', `the ${signerKind} is not signed by ${cn(chain.intermediate.cert.x509.subject)}.`);
  checkWindow(intersect(chain.intermediate.window, leaf), opts.at, `the ${signerKind} chain is`);
  if (ecCurve(leaf.key) !== 'secp384r1') reject('UNSUPPORTED', `the ${signerKind} key is not ECDSA P-384.`);

  const product = chain.product;
  const reportedTcb = decodeTcb(r, 0x180, product);
  const spl = {
    bootloader: derUint(exts.get(SPL_OIDS.bootloader), 'blSPL'),
    tee: derUint(exts.get(SPL_OIDS.tee), 'teeSPL'),
    snp: derUint(exts.get(SPL_OIDS.snp), 'snpSPL'),
    microcode: derUint(exts.get(SPL_OIDS.microcode), 'ucodeSPL'),
    fmc: derUint(exts.get(SPL_OIDS.fmc), 'fmcSPL'),
  };
  const components = [
    'bootloader',
    'tee',
    'snp',
    'microcode',
    ...(product === 'Turin' ? ['fmc' as const] : []),
  ] as const;
  for (const c of components) {
    const want = spl[c];
    if (want === undefined) reject('MALFORMED', `the ${signerKind} has no ${c} SPL extension.`);
    if (want !== reportedTcb[c])
      reject('TCB_MISMATCH', `${c}: certificate ${want}, reported_tcb ${String(reportedTcb[c])}.`);
  }

  const chipId = r.subarray(0x1a0, 0x1e0);
  if (signerKind === 'VCEK') {
    let hw = exts.get(OID_HWID)!;
    // AMD encodes hwID as the raw 64 bytes; accept an OCTET STRING wrapper too.
    if (hw.length === 66 && hw[0] === 0x04 && hw[1] === 0x40) hw = hw.subarray(2);
    if (hw.length !== 64 || !timingSafeEqual(hw, chipId)) reject('CHIP_ID_MISMATCH');
  }

  if (!verifySig(leaf.key, r))
    reject('SIGNATURE_INVALID', `ECDSA P-384 over report[0x000..0x29f] does not verify with the ${signerKind}.`);

  const pol = u64(r, 0x008);
  const debug = ((pol >> 19n) & 1n) === 1n;
  const migrationAgent = ((pol >> 18n) & 1n) === 1n;
  const vmpl = u32(r, 0x030);
  const measurement = toHex(r.subarray(0x090, 0x0c0))!;
  if (debug && !policy.allowDebug) reject('DEBUG_NOT_ALLOWED', 'the guest policy has DEBUG (bit 19) set.');
  if (migrationAgent && !policy.allowMigrationAgent)
    reject('MIGRATION_AGENT_NOT_ALLOWED', 'the guest policy has MIGRATE_MA (bit 18) set.');
  if (policy.vmpls && !policy.vmpls.includes(vmpl))
    reject('VMPL_MISMATCH', `VMPL ${vmpl} (allowed: ${policy.vmpls.join(', ')}).`);
  if (policy.tcbFloor)
    for (const [c, min] of Object.entries(policy.tcbFloor)) {
      const have = reportedTcb[c as keyof typeof spl];
      if (min !== undefined && (have === undefined || have < min))
        reject('TCB_BELOW_FLOOR', `${c} ${String(have ?? 'absent')} < ${min}.`);
    }
  if (policy.measurements && policy.measurements.length > 0 && !policy.measurements.includes(measurement))
    reject('MEASUREMENT_MISMATCH', `measurement ${measurement.slice(0, 16)}… is not allowed.`);

  const reportData = r.subarray(0x050, 0x090);
  if (opts.expectedReportData !== undefined) {
    const e = opts.expectedReportData;
    if (e.length !== 64 || !timingSafeEqual(e, reportData))
      reject('NONCE_MISMATCH', 'report_data differs from the expected binding.');
  }

  const cspRaw = exts.get(OID_CSPID);
  return {
    type: 'sev-snp',
    version,
    product,
    signerKind,
    guestSvn: u32(r, 0x004),
    policy: `0x${pol.toString(16)}`,
    debug,
    migrationAgent,
    vmpl,
    measurement,
    reportData: toHex(reportData)!,
    hostData: toHex(r.subarray(0x0c0, 0x0e0))!,
    reportId: toHex(r.subarray(0x140, 0x160))!,
    chipId: toHex(chipId)!,
    reportedTcb,
    currentTcb: decodeTcb(r, 0x038, product),
    firmware: `${r[0x1ea]}.${r[0x1e9]}.${r[0x1e8]}`,
    cspId: cspRaw ? derString(cspRaw) : null,
    leafFingerprint: leaf.fingerprint,
  };
}

function verifySig(key: KeyObject, r: Uint8Array): boolean {
  // r and s are stored little-endian in 72-byte fields; P1363 wants 48-byte big-endian each.
  const sig = new Uint8Array(96);
  for (let i = 0; i < 48; i++) {
    sig[47 - i] = r[0x2a0 + i] ?? 0;
    sig[95 - i] = r[0x2e8 + i] ?? 0;
  }
  try {
    return cryptoVerify('sha384', r.subarray(0, SIGNED_END), { key, dsaEncoding: 'ieee-p1363' }, sig);
  } catch {
    return false;
  }
}
