/**
 * Checks a KDS answer before it is cached: only the ARK fingerprints are pinned
 * in code (`AMD_ARK_SHA256` in snp.ts), so a chain must end in the pinned,
 * self-signed ARK of its product, and its intermediate must be a CA of the right
 * name signed by that ARK with RSASSA-PSS; a VCEK must be for the chip and TCB
 * asked for and signed by the cached ASK. A hostile or broken answer is a
 * KdsError and never replaces a good cached copy.
 */
import { certExtensions } from './der.ts';
import { AMD_PRODUCTS, type ChainKind, hwidOf, KdsError, type KdsReason } from './kds-client.ts';
import { AttestationError } from './reasons.ts';
import { AMD_ARK_SHA256, type SnpProduct, type Tcb } from './snp.ts';
import { certsFromPemOrDer, commonName as cn, issuedBy, type ParsedCert, parseDer } from './x509.ts';

const PEM_BLOCK = /-----BEGIN ([A-Z ]+)-----[A-Za-z0-9+/=\s]*?-----END \1-----/g;

function toPem(der: Uint8Array): string {
  const b64 = Buffer.from(der).toString('base64');
  return `-----BEGIN CERTIFICATE-----\n${b64.match(/.{1,64}/g)?.join('\n')}\n-----END CERTIFICATE-----\n`;
}

/** Runs an x509 helper, turning its AttestationError into a KdsError. */
function asKds<T>(fn: () => T, reason: KdsReason, where: string): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof AttestationError) throw new KdsError(reason, `${where}: ${e.message}`, { where });
    throw new KdsError(reason, `${where}: ${(e as Error)?.message ?? String(e)}`, { where });
  }
}

export interface VerifiedAmdChain {
  readonly product: SnpProduct;
  readonly kind: ChainKind;
  /** ASK (vcek) or ASVK (vlek). */
  readonly intermediate: ParsedCert;
  readonly ark: ParsedCert;
  /** Canonical PEM bundle [intermediate, ARK], as cached. */
  readonly pem: string;
}

/**
 * Verifies a KDS `cert_chain` body (PEM: ASK or ASVK, then ARK) for `product`:
 * pinned, self-signed ARK; intermediate a CA named SEV-{product} / SEV-VLEK-{product},
 * signed by the ARK with RSASSA-PSS; both valid at `now`.
 */
export function verifyKdsChain(body: Uint8Array, product: SnpProduct, kind: ChainKind, now: Date): VerifiedAmdChain {
  const where = `${kind} cert_chain for ${product}`;
  const text = Buffer.from(body).toString('latin1');
  const blocks = [...text.matchAll(PEM_BLOCK)];
  if (blocks.length !== 2 || blocks.some((m) => m[1] !== 'CERTIFICATE') || text.replace(PEM_BLOCK, '').trim() !== '')
    throw new KdsError('NOT_A_CERTIFICATE', `the ${where} must be exactly two PEM CERTIFICATE blocks.`, {
      product,
      kind,
    });
  const ders = asKds(() => certsFromPemOrDer(body, where), 'NOT_A_CERTIFICATE', where);
  const [interDer, arkDer] = ders as [Uint8Array, Uint8Array];
  const inter = asKds(() => parseDer(interDer, `the ${kind === 'vcek' ? 'ASK' : 'ASVK'}`), 'NOT_A_CERTIFICATE', where);
  const ark = asKds(() => parseDer(arkDer, 'the ARK'), 'NOT_A_CERTIFICATE', where);
  const pinned = AMD_ARK_SHA256[product];
  if (ark.fingerprint !== pinned) {
    const other = AMD_PRODUCTS.find((p) => AMD_ARK_SHA256[p] === ark.fingerprint);
    throw new KdsError(
      'UNPINNED_ARK',
      `the ${where} ends in ${other ? `the ${other} ARK` : `an unknown root`} (sha256 ${ark.fingerprint}), ` +
        `not ARK-${product} (${pinned}).`,
      { product, kind, arkSha256: ark.fingerprint },
    );
  }
  const wantCn = kind === 'vcek' ? `SEV-${product}` : `SEV-VLEK-${product}`;
  const fail = (detail: string): never => {
    throw new KdsError('CHAIN_INVALID', `${where}: ${detail}`, { product, kind });
  };
  if (!issuedBy(ark, ark)) fail('the ARK is not self-signed.');
  if (cn(inter.x509.subject) !== wantCn) fail(`the intermediate is "${cn(inter.x509.subject)}", not ${wantCn}.`);
  if (!inter.x509.ca) fail(`${wantCn} is not a CA certificate.`);
  for (const c of [inter, ark])
    if (c.x509.signatureAlgorithm !== 'rsassaPss')
      fail(
        `${cn(c.x509.subject)} is signed with ${c.x509.signatureAlgorithm ?? 'an unknown algorithm'}, not RSASSA-PSS.`,
      );
  if (!issuedBy(inter, ark)) fail(`${wantCn} is not signed by ARK-${product}.`);
  const t = now.getTime();
  for (const c of [inter, ark])
    if (t < c.notBefore || t > c.notAfter)
      fail(
        `${cn(c.x509.subject)} is valid ${new Date(c.notBefore).toISOString()} → ${new Date(c.notAfter).toISOString()}, not at ${now.toISOString()}.`,
      );
  return { product, kind, intermediate: inter, ark, pem: toPem(inter.der) + toPem(ark.der) };
}

const OID_HWID = '1.3.6.1.4.1.3704.1.4';
const SPL_OIDS: Record<string, keyof Tcb> = {
  '1.3.6.1.4.1.3704.1.3.1': 'bootloader',
  '1.3.6.1.4.1.3704.1.3.2': 'tee',
  '1.3.6.1.4.1.3704.1.3.3': 'snp',
  '1.3.6.1.4.1.3704.1.3.8': 'microcode',
  '1.3.6.1.4.1.3704.1.3.9': 'fmc',
};

/** The small DER INTEGER in an SPL extension, or undefined. */
function splValue(v: Uint8Array | undefined): number | undefined {
  if (v?.[0] !== 0x02 || v[1] === undefined || v[1] > 2 || v.length !== 2 + v[1]) return undefined;
  let n = 0;
  for (let i = 2; i < v.length; i++) n = n * 256 + (v[i] ?? 0);
  return n;
}

/** Checks a KDS VCEK answer: one DER certificate, CN=SEV-VCEK, this chip and TCB, signed by the ASK. */
export function verifyKdsVcek(
  body: Uint8Array,
  req: { product: SnpProduct; chipId: Uint8Array; tcb: Tcb; ask: ParsedCert; url: string },
): ParsedCert {
  const where = `VCEK from ${req.url}`;
  if (body[0] !== 0x30) throw new KdsError('NOT_A_CERTIFICATE', `the ${where} is not DER.`, { url: req.url });
  const leaf = asKds(() => parseDer(body, 'the VCEK'), 'NOT_A_CERTIFICATE', where);
  const exts = asKds(() => certExtensions(body), 'NOT_A_CERTIFICATE', where);
  const wrong = (detail: string): never => {
    throw new KdsError('WRONG_CERTIFICATE', `${where}: ${detail}`, { url: req.url });
  };
  if (cn(leaf.x509.subject) !== 'SEV-VCEK') wrong(`the subject is "${cn(leaf.x509.subject)}", not SEV-VCEK.`);
  let hw = exts.get(OID_HWID);
  if (hw && hw.length === 2 + (hw[1] ?? 0) && hw[0] === 0x04) hw = hw.subarray(2);
  const want = hwidOf(req.product, req.chipId);
  if (!hw || Buffer.compare(Buffer.from(hw), Buffer.from(want)) !== 0) wrong('its hwID is not this chip_id.');
  const components: (keyof Tcb)[] = ['bootloader', 'tee', 'snp', 'microcode'];
  if (req.product === 'Turin') components.push('fmc');
  for (const [oid, c] of Object.entries(SPL_OIDS)) {
    if (!components.includes(c)) continue;
    const v = splValue(exts.get(oid));
    if (v !== req.tcb[c]) wrong(`${c} SPL is ${String(v)}, the request asked for ${String(req.tcb[c])}.`);
  }
  if (!issuedBy(leaf, req.ask))
    throw new KdsError('CHAIN_INVALID', `the ${where} is not signed by the cached SEV-${req.product} ASK.`, {
      url: req.url,
    });
  return leaf;
}
