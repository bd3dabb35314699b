/**
 * `aidops attest verify`: checks Nitro Enclave, NitroTPM and SEV-SNP evidence
 * offline, at a time you give (certificates in evidence expire within hours).
 * Exit 0 verified, 1 rejected, 2 bad usage.
 */
import { readFileSync } from 'node:fs';
import {
  decodeEvidence,
  type Encoding,
  EVIDENCE_TYPES,
  type EvidenceType,
  verdictOf,
} from '../../lambdas/attestation/evidence.ts';
import { AttestationPolicySchema } from '../../lambdas/attestation/policy.ts';
import { AttestationError } from '../../lambdas/attestation/reasons.ts';
import { parseOrThrow } from '../../lambdas/shared/validation.ts';
import { type CommandGroup, command, Exit, UsageError } from '../args.ts';

const ENCODINGS = ['auto', 'raw', 'base64', 'hex'] as const;

function readFile(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new UsageError(`cannot read ${what} ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

function hexArg(v: string | undefined, what: string, len?: number): Buffer | undefined {
  if (v === undefined) return undefined;
  if (!/^([0-9a-fA-F]{2})+$/.test(v)) throw new UsageError(`${what} must be hex`);
  const b = Buffer.from(v, 'hex');
  if (len !== undefined && b.length !== len) throw new UsageError(`${what} must be ${len} bytes`);
  return b;
}

function spki(b: Buffer): Buffer {
  const text = b.toString('latin1');
  if (!text.includes('-----BEGIN PUBLIC KEY-----')) return b;
  return Buffer.from(text.replace(/-----[^-]+-----|\s+/g, ''), 'base64');
}

const verify = command({
  summary: 'verify attestation evidence offline, at a time you give (its certificates expire within hours)',
  synopsis: '--type nitro-enclave|nitrotpm|sev-snp --evidence FILE --at ISO8601 [options]',
  options: {
    type: { type: 'string', value: 'TYPE', help: `the evidence type: ${EVIDENCE_TYPES.join(', ')}` },
    evidence: { type: 'string', value: 'FILE', help: 'the attestation document or report' },
    encoding: {
      type: 'string',
      value: 'ENC',
      default: 'auto',
      help: `how FILE is encoded: ${ENCODINGS.join(', ')} (default auto)`,
    },
    cert: {
      type: 'string',
      value: 'FILE',
      help: 'SEV-SNP: the VCEK or VLEK (DER or PEM); optional for a go-sev-guest protobuf',
    },
    chain: { type: 'string', value: 'FILE', help: 'SEV-SNP: PEM bundle, ASK or ASVK then ARK (AMD KDS cert_chain)' },
    at: {
      type: 'string',
      value: 'ISO8601',
      help: 'verification time (certificate validity and document age are judged then)',
    },
    nonce: {
      type: 'string',
      value: 'HEX',
      help: 'Nitro: the document nonce must equal it; SEV-SNP with --session-key: report_data = SHA-512(nonce || key SPKI)',
    },
    'report-data': { type: 'string', value: 'HEX', help: 'SEV-SNP: exact 64-byte report_data expected' },
    'session-key': {
      type: 'string',
      value: 'FILE',
      help: 'SEV-SNP: the session public key (PEM or SPKI DER) for the binding',
    },
    policy: {
      type: 'string',
      value: 'FILE',
      help: 'JSON policy; default: structure, signature, chain, time, no debug',
    },
    json: { type: 'boolean', default: false, help: 'print {verdict, reason, message, claims}' },
  },
  notes: [
    'policy fields: enclaveImages, tpmImages, measurements, allowDebug, allowMigrationAgent, tcbFloor, vmpls, maxAgeSeconds',
  ],
  exit: '0 verified, 1 rejected, 2 bad usage',
  examples: ['aidops attest verify --type nitrotpm --evidence doc.cbor --at 2026-02-03T11:00:00Z --nonce 0a1b2c'],
  run: async ({ values }, io) => {
    const type = values.type as EvidenceType | undefined;
    if (!type || !EVIDENCE_TYPES.includes(type))
      throw new UsageError(`--type must be one of ${EVIDENCE_TYPES.join(', ')}`);
    if (!values.evidence) throw new UsageError('--evidence FILE is required');
    if (!values.at) throw new UsageError('--at ISO8601 is required (certificates in evidence expire within hours)');
    if (!/^\d{4}-\d{2}-\d{2}T/.test(values.at) || Number.isNaN(Date.parse(values.at)))
      throw new UsageError(`--at "${values.at}" is not an ISO 8601 time`);
    const encoding = values.encoding as Encoding;
    if (!ENCODINGS.includes(encoding)) throw new UsageError(`--encoding must be one of ${ENCODINGS.join(', ')}`);
    const isSnp = type === 'sev-snp';
    if (!isSnp && (values.cert || values.chain || values['report-data'] || values['session-key']))
      throw new UsageError('--cert, --chain, --report-data and --session-key apply to sev-snp only');
    const nonce = hexArg(values.nonce, '--nonce');
    const reportData = hexArg(values['report-data'], '--report-data', 64);
    const sessionKey = values['session-key'] ? spki(readFile(values['session-key'], 'session key')) : undefined;
    if (isSnp && nonce && !sessionKey)
      throw new UsageError('for sev-snp, --nonce needs --session-key (or use --report-data)');
    if (isSnp && nonce && reportData) throw new UsageError('give either --report-data or --nonce with --session-key');
    let policy: unknown = {};
    if (values.policy) {
      try {
        policy = JSON.parse(readFile(values.policy, 'policy').toString('utf8'));
      } catch (e) {
        if (e instanceof UsageError) throw e;
        throw new UsageError(`policy ${values.policy} is not JSON: ${(e as Error).message}`);
      }
    }
    const parsedPolicy = parseOrThrow(AttestationPolicySchema, policy, 'attestation policy');

    let evidence: Uint8Array;
    const raw = readFile(values.evidence, 'evidence');
    try {
      evidence = decodeEvidence(raw, encoding);
    } catch (e) {
      if (e instanceof AttestationError) throw new UsageError(`${values.evidence}: ${e.message}`);
      throw e;
    }
    const v = verdictOf({
      type,
      evidence,
      at: new Date(values.at),
      policy: parsedPolicy,
      ...(nonce ? { nonce } : {}),
      ...(sessionKey ? { sessionPublicKey: sessionKey } : {}),
      ...(reportData ? { expectedReportData: reportData } : {}),
      ...(values.cert ? { leafCert: readFile(values.cert, 'certificate') } : {}),
      ...(values.chain ? { chain: readFile(values.chain, 'chain') } : {}),
    });
    if (values.json) io.out(JSON.stringify(v, null, 2));
    else if (v.verdict === 'verified') {
      const c = v.claims ?? {};
      const summary =
        type === 'sev-snp'
          ? `v${c.version} ${c.product} ${c.signerKind} measurement ${c.measurement} vmpl ${c.vmpl}`
          : `${c.moduleId} at ${c.timestamp}${c.debug ? ' (debug)' : ''} PCR0 ${(c.pcrs as Record<string, string>)['0']}`;
      io.out(`VERIFIED ${type}: ${summary}`);
    } else io.out(`REJECTED ${v.reason}: ${v.message}`);
    return v.verdict === 'verified' ? Exit.Ok : Exit.Rejected;
  },
});

export const commands: CommandGroup = { verify };
