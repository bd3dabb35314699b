/**
 * go-sev-guest's `sevsnp.Attestation` protobuf: the report, rebuilt to its
 * 1184-byte ABI layout by go-sev-guest's ReportToAbiBytes rules, and the
 * certificates that came with it.
 */
import { reject } from './reasons.ts';
import { SNP_REPORT_SIZE, type SnpProduct } from './snp.ts';

export interface SnpAttestationPb {
  /** The 1184-byte report rebuilt by go-sev-guest's ReportToAbiBytes rules. */
  readonly report: Uint8Array;
  readonly vcekCert?: Uint8Array;
  readonly vlekCert?: Uint8Array;
  readonly askCert?: Uint8Array;
  readonly arkCert?: Uint8Array;
  readonly product?: SnpProduct;
}

interface PbField {
  readonly no: number;
  readonly wire: number;
  readonly int: bigint;
  readonly bytes: Uint8Array;
}

function pbFields(b: Uint8Array): PbField[] {
  const out: PbField[] = [];
  let p = 0;
  const varint = (): bigint => {
    let v = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      const x = b[p++];
      if (x === undefined) return reject('MALFORMED', 'truncated protobuf varint.');
      v |= BigInt(x & 0x7f) << shift;
      if (!(x & 0x80)) return v;
    }
    return reject('MALFORMED', 'protobuf varint too long.');
  };
  const empty = new Uint8Array(0);
  while (p < b.length) {
    const key = varint();
    const no = Number(key >> 3n);
    const wire = Number(key & 7n);
    if (no === 0) reject('MALFORMED', 'protobuf field number 0.');
    if (wire === 0) out.push({ no, wire, int: varint(), bytes: empty });
    else if (wire === 2) {
      const len = varint();
      if (len > BigInt(b.length - p)) reject('MALFORMED', 'protobuf length exceeds input.');
      out.push({ no, wire, int: 0n, bytes: b.subarray(p, p + Number(len)) });
      p += Number(len);
    } else if (wire === 1 || wire === 5) {
      const n = wire === 1 ? 8 : 4;
      if (p + n > b.length) reject('MALFORMED', 'truncated protobuf fixed field.');
      let v = 0n;
      for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[p + i] ?? 0);
      out.push({ no, wire, int: v, bytes: empty });
      p += n;
    } else reject('MALFORMED', `protobuf wire type ${wire}.`);
  }
  return out;
}

const PB_INT: Record<number, [number, number]> = {
  1: [0x000, 4],
  2: [0x004, 4],
  3: [0x008, 8],
  6: [0x030, 4],
  7: [0x034, 4],
  8: [0x038, 8],
  9: [0x040, 8],
  10: [0x048, 4],
  18: [0x180, 8],
  20: [0x1e0, 8],
  21: [0x1e8, 1],
  22: [0x1e9, 1],
  23: [0x1ea, 1],
  24: [0x1ec, 1],
  25: [0x1ed, 1],
  26: [0x1ee, 1],
  27: [0x1f0, 8],
  30: [0x1f8, 8],
  31: [0x200, 8],
};
const PB_BYTES: Record<number, [number, number]> = {
  4: [0x010, 16],
  5: [0x020, 16],
  11: [0x050, 64],
  12: [0x090, 48],
  13: [0x0c0, 32],
  14: [0x0e0, 48],
  15: [0x110, 48],
  16: [0x140, 32],
  17: [0x160, 32],
  19: [0x1a0, 64],
  28: [0x2a0, 512],
};
const PRODUCTS: Record<number, SnpProduct> = { 1: 'Milan', 2: 'Genoa', 3: 'Turin' };

function rebuildReport(msg: Uint8Array): Uint8Array {
  const r = new Uint8Array(SNP_REPORT_SIZE);
  for (const f of pbFields(msg)) {
    const i = PB_INT[f.no];
    const b = PB_BYTES[f.no];
    if (i && f.wire === 0) {
      const [off, size] = i;
      if (f.int >> BigInt(size * 8) !== 0n) reject('MALFORMED', `report field ${f.no} does not fit ${size} bytes.`);
      for (let k = 0; k < size; k++) r[off + k] = Number((f.int >> BigInt(8 * k)) & 0xffn);
    } else if (b && f.wire === 2) {
      const [off, size] = b;
      if (f.bytes.length !== size) reject('MALFORMED', `report field ${f.no} must be ${size} bytes.`);
      r.set(f.bytes, off);
    } else if (f.no === 29 && f.wire === 0) {
      // cpuid(1).eax → family/model/stepping bytes, as go-sev-guest does for version ≥ 3.
      const eax = Number(f.int & 0xffffffffn);
      const baseFam = (eax >> 8) & 0xf;
      const family = baseFam === 0xf ? baseFam + ((eax >> 20) & 0xff) : baseFam;
      const baseModel = (eax >> 4) & 0xf;
      const model = baseFam === 0xf || baseFam === 6 ? (((eax >> 16) & 0xf) << 4) | baseModel : baseModel;
      r[0x188] = family;
      r[0x189] = model;
      r[0x18a] = eax & 0xf;
    } else reject('MALFORMED', `unexpected report field ${f.no}.`);
  }
  return r;
}

/** Parses a go-sev-guest `sevsnp.Attestation` protobuf: the report (rebuilt to ABI bytes) and its certificates. */
export function parseSnpAttestationPb(bytes: Uint8Array): SnpAttestationPb {
  try {
    let report: Uint8Array | undefined;
    const certs: { vcekCert?: Uint8Array; vlekCert?: Uint8Array; askCert?: Uint8Array; arkCert?: Uint8Array } = {};
    let product: SnpProduct | undefined;
    for (const f of pbFields(bytes)) {
      if (f.wire !== 2) reject('MALFORMED', `unexpected Attestation field ${f.no}.`);
      if (f.no === 1) report = rebuildReport(f.bytes);
      else if (f.no === 2) {
        for (const c of pbFields(f.bytes)) {
          if (c.wire !== 2) continue;
          if (c.no === 1) certs.vcekCert = c.bytes;
          else if (c.no === 6) certs.vlekCert = c.bytes;
          else if (c.no === 2) certs.askCert = c.bytes;
          else if (c.no === 3) certs.arkCert = c.bytes;
        }
      } else if (f.no === 3) {
        const name = pbFields(f.bytes).find((x) => x.no === 1 && x.wire === 0);
        product = name ? PRODUCTS[Number(name.int)] : undefined;
      }
    }
    if (!report) return reject('MALFORMED', 'the Attestation protobuf has no report.');
    return { report, ...certs, ...(product ? { product } : {}) };
  } catch (e) {
    if ((e as Error)?.name === 'AttestationError') throw e;
    return reject('MALFORMED', `bad Attestation protobuf: ${(e as Error)?.message}`);
  }
}
