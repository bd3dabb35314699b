/**
 * The real vectors of test/fixtures/attestation (see its README), with the
 * windows and verdicts that README states.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { ATTESTATION_VECTORS } from '../../../local/fixtures.ts';

export const TESTDATA = ATTESTATION_VECTORS;

export function file(rel: string): Buffer {
  return readFileSync(path.join(TESTDATA, rel));
}

/** Decodes by the README's "fmt" column: .b64 base64, .hex hex, otherwise raw. */
export function load(rel: string): Buffer {
  const b = file(rel);
  if (rel.endsWith('.b64')) return Buffer.from(b.toString('latin1').trim(), 'base64');
  if (rel.endsWith('.hex')) return Buffer.from(b.toString('latin1').trim(), 'hex');
  return b;
}

export interface NitroVector {
  readonly file: string;
  readonly type: 'nitro-enclave' | 'nitrotpm';
  readonly debug: boolean;
  /** Certificate window from the README (UTC). */
  readonly from: string;
  readonly to: string;
  readonly timestamp: number;
}

export const NITRO: readonly NitroVector[] = [
  {
    file: 'nitro-enclave/evervault-2022-10-13-us-east-1.cbor',
    type: 'nitro-enclave',
    debug: false,
    from: '2022-10-13T08:57:59Z',
    to: '2022-10-13T11:58:02Z',
    timestamp: 1665651482136,
  },
  {
    file: 'nitro-enclave/evervault-2022-10-12-us-east-1-debug.cbor',
    type: 'nitro-enclave',
    debug: true,
    from: '2022-10-12T13:49:51Z',
    to: '2022-10-12T16:49:54Z',
    timestamp: 1665582606081,
  },
  {
    file: 'nitro-enclave/evervault-2023-09-18-us-east-1-debug.b64',
    type: 'nitro-enclave',
    debug: true,
    from: '2023-09-18T14:37:09Z',
    to: '2023-09-18T17:37:12Z',
    timestamp: 1695049410860,
  },
  {
    file: 'nitro-enclave/marlin-2024-08-07-ap-south-1.cbor',
    type: 'nitro-enclave',
    debug: false,
    from: '2024-08-07T06:38:06Z',
    to: '2024-08-07T09:38:09Z',
    timestamp: 1723012689640,
  },
  {
    file: 'nitro-enclave/marlin-2024-12-13-ap-south-1.cbor',
    type: 'nitro-enclave',
    debug: false,
    from: '2024-12-13T05:57:42Z',
    to: '2024-12-13T08:57:45Z',
    timestamp: 1734075478960,
  },
  {
    file: 'nitro-enclave/marlin-2025-04-29-ap-south-1-pcr16.cbor',
    type: 'nitro-enclave',
    debug: false,
    from: '2025-04-29T10:31:39Z',
    to: '2025-04-29T13:31:42Z',
    timestamp: 1745922759691,
  },
  {
    file: 'nitro-enclave/blocky-2024-09-07-us-east-1-maxfields.b64',
    type: 'nitro-enclave',
    debug: false,
    from: '2024-09-07T14:37:36Z',
    to: '2024-09-07T17:37:39Z',
    timestamp: 1725719859545,
  },
  {
    file: 'nitro-enclave/blocky-2024-09-07-us-east-1-maxfields-debug.b64',
    type: 'nitro-enclave',
    debug: true,
    from: '2024-09-07T14:38:03Z',
    to: '2024-09-07T17:38:06Z',
    timestamp: 1725719886508,
  },
  {
    file: 'nitro-enclave/confidior-2026-07-07-us-east-2.hex',
    type: 'nitro-enclave',
    debug: false,
    from: '2026-07-07T20:29:35Z',
    to: '2026-07-07T23:29:38Z',
    timestamp: 1783456414261,
  },
  {
    file: 'nitrotpm/reclaim-2026-06-18-us-east-2.cbor',
    type: 'nitrotpm',
    debug: false,
    from: '2026-06-18T05:10:46Z',
    to: '2026-06-18T08:10:49Z',
    timestamp: 1781759449634,
  },
  {
    file: 'nitrotpm/reclaim-2026-06-19-us-east-2-from-envelope.cbor',
    type: 'nitrotpm',
    debug: false,
    from: '2026-06-19T21:13:57Z',
    to: '2026-06-20T00:14:00Z',
    timestamp: 1781903643476,
  },
  {
    file: 'nitrotpm/vaportpm-2026-02-03-us-east-1.cbor',
    type: 'nitrotpm',
    debug: false,
    from: '2026-02-03T10:11:59Z',
    to: '2026-02-03T13:12:02Z',
    timestamp: 1770113522437,
  },
];

export interface SnpVector {
  readonly report: string;
  readonly leaf: string;
  readonly chain: string;
  readonly kind: 'VCEK' | 'VLEK';
  readonly valid: boolean;
  readonly debug: boolean;
  readonly at: string;
  /** Signer (leaf) window; the AMD intermediates outlive it. */
  readonly from: string;
  readonly to: string;
}

const VLEK26 = 'sev-snp/aws-us-east-2-vlek-2026.vlek.pem';
const MILAN_ASK = 'roots/amd-milan-ask-ark.pem';
const MILAN_ASVK = 'roots/amd-milan-asvk-ark.pem';
const W26 = { from: '2026-03-09T19:30:05Z', to: '2027-03-09T19:30:05Z', at: '2026-06-19T21:14:03Z' };

export const SNP: readonly SnpVector[] = [
  {
    report: 'sev-snp/go-sev-guest-milan-vcek-2022.report.bin',
    leaf: 'sev-snp/go-sev-guest-milan-vcek-2022.vcek.der',
    chain: MILAN_ASK,
    kind: 'VCEK',
    valid: true,
    debug: true,
    at: '2022-09-24T01:00:00Z',
    from: '2022-09-24T00:55:28Z',
    to: '2029-09-24T00:55:28Z',
  },
  {
    report: 'sev-snp/virtee-milan-vcek-2023.report.hex',
    leaf: 'sev-snp/virtee-milan-vcek-2023.vcek.der',
    chain: MILAN_ASK,
    kind: 'VCEK',
    valid: true,
    debug: false,
    at: '2023-05-02T00:00:00Z',
    from: '2023-04-03T19:23:43Z',
    to: '2030-04-03T19:23:43Z',
  },
  {
    report: 'sev-snp/constellation-aws-us-east-2-vlek-2023.report.b64',
    leaf: 'sev-snp/constellation-aws-us-east-2-vlek-2023.vlek.pem',
    chain: MILAN_ASVK,
    kind: 'VLEK',
    valid: true,
    debug: false,
    at: '2023-11-24T00:00:00Z',
    from: '2023-07-19T08:29:28Z',
    to: '2024-07-19T08:29:28Z',
  },
  {
    report: 'sev-snp/constellation-aws-eu-west-1-vlek-2024.report.b64',
    leaf: 'sev-snp/constellation-aws-eu-west-1-vlek-2024.vlek.pem',
    chain: MILAN_ASVK,
    kind: 'VLEK',
    valid: true,
    debug: false,
    at: '2025-05-06T00:00:00Z',
    from: '2024-12-10T22:30:16Z',
    to: '2025-12-10T22:30:16Z',
  },
  {
    report: 'sev-snp/verdifax-aws-us-east-2-vlek-2026.report.bin',
    leaf: VLEK26,
    chain: MILAN_ASVK,
    kind: 'VLEK',
    valid: true,
    debug: false,
    ...W26,
  },
  {
    report: 'sev-snp/confidior-aws-us-east-2-vlek-2026.report.hex',
    leaf: VLEK26,
    chain: MILAN_ASVK,
    kind: 'VLEK',
    valid: true,
    debug: false,
    ...W26,
  },
  {
    report: 'sev-snp/reclaim-aws-us-east-2-vlek-2026.DERIVED-report.bin',
    leaf: VLEK26,
    chain: MILAN_ASVK,
    kind: 'VLEK',
    valid: true,
    debug: false,
    ...W26,
  },
  {
    report: 'sev-snp/reclaim-combined-2026-06-19.DERIVED-report.bin',
    leaf: VLEK26,
    chain: MILAN_ASVK,
    kind: 'VLEK',
    valid: true,
    debug: false,
    ...W26,
  },
  {
    report: 'sev-snp/INVALID-constellation-vlek-const-sigmismatch.report.hex',
    leaf: 'sev-snp/constellation-aws-us-east-2-vlek-2023.vlek.pem',
    chain: MILAN_ASVK,
    kind: 'VLEK',
    valid: false,
    debug: false,
    at: '2023-11-24T00:00:00Z',
    from: '2023-07-19T08:29:28Z',
    to: '2024-07-19T08:29:28Z',
  },
];

export const PB = [
  {
    file: 'sev-snp/reclaim-aws-us-east-2-vlek-2026.attestation.pb',
    derived: 'sev-snp/reclaim-aws-us-east-2-vlek-2026.DERIVED-report.bin',
  },
  {
    file: 'sev-snp/reclaim-combined-2026-06-19.attestation.pb',
    derived: 'sev-snp/reclaim-combined-2026-06-19.DERIVED-report.bin',
  },
] as const;

export const ALLOW_DEBUG = { allowDebug: true, allowMigrationAgent: false, clockSkewSeconds: 60 } as const;

export function plusSeconds(iso: string, s: number): Date {
  return new Date(Date.parse(iso) + s * 1000);
}

/**
 * The measurements of the real documents the session tests present, as a deployment
 * pins its image's: PCR0/1/2 of the confidior enclave, PCR4/7 of the vaportpm boot
 * chain, the launch measurement of the reclaim SEV-SNP report. `module_id` names each
 * document's instance: a session must run there for its document to be accepted.
 */
export const PINNED = {
  enclave: {
    instanceId: 'i-01067cfa560f27f3d',
    policy: {
      enclaveImages: [
        {
          name: 'confidior-2026-07-07',
          pcrs: {
            '0': 'cca6d8f389f3215631a31901469e63bef16435fdd2ffcbc09aad18872eb77229e0a602891cb7a1b9a42fd5b97eb0362a',
            '1': '3b4a7e1b5f13c5a1000b3ed32ef8995ee13e9876329f9bc72650b918329ef9cf4e2e4d1e1e37375dab0ba56ba0974d03',
            '2': 'c75dbe4d9423e5dfb6785c30805c408e20b792fbe5dfd2de7a3311e6d718ff9f52813005b667fcc53d8a30cbea4f9b19',
          },
        },
      ],
    },
  },
  tpm: {
    instanceId: 'i-01cfb383223e42522',
    policy: {
      tpmImages: [
        {
          name: 'vaportpm-2026-02-03',
          pcrs: {
            '4': '1a1f166e1995c1e1bfdf1c1d13b1ebc9d5d4e44397501655c911a2062d92063483ca9e17f0264efe336d4b61c5b98d1e',
            '7': '98441c7f7625d10058c47683aec486ce311c633235eb555593a7ee791121e3578ae72d04ecef661f272d59058b77af35',
          },
        },
      ],
    },
  },
  snp: {
    policy: {
      measurements: [
        '507e82d27ea5b951dd765a3eb31ba5f582673b301d6983ded482d3feb066cb68979f1f11fede97687374d3a25002a15f',
      ],
    },
  },
};

/** Sessions config overrides pinning each default profile to the documents above. */
export const PINNED_PROFILES = {
  'enclave-parent': { unpinned: false, attestationPolicy: PINNED.enclave.policy },
  hardened: { unpinned: false, attestationPolicy: PINNED.tpm.policy },
  'confidential-vm': { unpinned: false, attestationPolicy: PINNED.snp.policy },
};
