/**
 * `aidops audit verify`: checks an audit bucket offline-style — every hash, chain
 * link, digest signature and Object Lock retention — trusting only the public key
 * the auditor names. Exit 0 intact, 1 findings, 2 usage or connection error.
 */
import { readFileSync } from 'node:fs';
import { KMSClient } from '@aws-sdk/client-kms';
import { S3Client } from '@aws-sdk/client-s3';
import {
  FINDING_HELP,
  type FindingCode,
  s3AuditStore,
  trustFromKms,
  trustFromPublicKey,
  verifyAudit,
} from '../../lambdas/audit/verify.ts';
import { httpStatusOf } from '../../lambdas/shared/aws-errors.ts';
import { awsClientConfig } from '../../lambdas/shared/clients.ts';
import { type CommandGroup, command, Exit, table, UsageError } from '../args.ts';

/** Turns "no such bucket/key" and "access denied" into usage errors (exit 2) that say what to fix. */
function explain(e: unknown, bucket: string): unknown {
  const name = (e as { name?: string } | undefined)?.name;
  const message = (e as { message?: string } | undefined)?.message ?? String(e);
  if (name === 'NoSuchBucket') return new UsageError(`bucket ${bucket} does not exist`);
  if (name === 'NotFoundException') return new UsageError(`KMS key not found: ${message}`);
  if (name === 'AccessDenied' || httpStatusOf(e) === 403) {
    return new UsageError(`access denied: ${message} (the verifier needs s3:ListBucketVersions, s3:GetObjectVersion)`);
  }
  return e;
}

function parseDate(v: string | undefined, flag: string): Date | undefined {
  if (v === undefined) return undefined;
  const d = new Date(v);
  if (Number.isNaN(d.getTime())) throw new UsageError(`${flag} must be an ISO 8601 date, got "${v}"`);
  return d;
}

const verify = command({
  summary: 'check every hash, chain link, digest signature and Object Lock retention of an audit bucket',
  synopsis: '--bucket NAME (--public-key FILE | --key-id ID) [options]',
  options: {
    bucket: { type: 'string', value: 'NAME', help: 'the audit bucket' },
    prefix: { type: 'string', value: 'P', help: "key prefix of the audit layout (default 'audit/')" },
    session: { type: 'string', value: 'ID', help: "verify one chain only (a session id, or 'control-plane')" },
    from: { type: 'string', value: 'ISO', help: 'only objects written from this time on (ISO 8601)' },
    to: { type: 'string', value: 'ISO', help: 'only objects written up to this time (ISO 8601)' },
    endpoint: { type: 'string', value: 'URL', help: 'S3/KMS endpoint (e.g. the local emulator); default AWS' },
    'public-key': {
      type: 'string',
      value: 'FILE',
      help: 'PEM or DER public key of the digest signing key (fully offline)',
    },
    'key-id': {
      type: 'string',
      value: 'ID',
      help: 'KMS key id/ARN/alias: the public key is fetched once, signatures checked locally',
    },
    json: { type: 'boolean', help: 'every finding as JSON' },
    'retention-days': {
      type: 'string',
      value: 'N',
      help: 'minimum retention policy (default $AIDOPS_AUDIT_RETENTION_DAYS or 365)',
    },
    'lock-mode': {
      type: 'string',
      value: 'COMPLIANCE|GOVERNANCE',
      help: 'required Object Lock mode (default COMPLIANCE)',
    },
    'max-digest-lag': {
      type: 'string',
      value: 'MINUTES',
      help: 'report objects older than this that no digest covers (default: not checked)',
    },
  },
  exit: '0 intact, 1 findings, 2 usage or connection error',
  examples: ['aidops audit verify --bucket my-audit-bucket --key-id alias/aidops-audit-digest --session ses-1a2b3c'],
  notes: ['findings:', ...Object.entries(FINDING_HELP).map(([c, h]) => `  ${c.padEnd(20)} ${h}`)],
  run: async ({ values, endpoint }, io) => {
    if (!values.bucket) throw new UsageError('--bucket is required');
    if (Boolean(values['public-key']) === Boolean(values['key-id'])) {
      throw new UsageError('name the trusted signing key: exactly one of --public-key FILE or --key-id ID');
    }
    const retentionDays = Number(values['retention-days'] ?? io.env.AIDOPS_AUDIT_RETENTION_DAYS ?? '365');
    if (!Number.isInteger(retentionDays) || retentionDays < 1)
      throw new UsageError('--retention-days must be a positive integer');
    const mode = values['lock-mode'] ?? 'COMPLIANCE';
    if (mode !== 'COMPLIANCE' && mode !== 'GOVERNANCE')
      throw new UsageError('--lock-mode must be COMPLIANCE or GOVERNANCE');
    const lagMin = values['max-digest-lag'] !== undefined ? Number(values['max-digest-lag']) : undefined;
    if (lagMin !== undefined && !(lagMin >= 0)) throw new UsageError('--max-digest-lag must be a number of minutes');
    const from = parseDate(values.from, '--from');
    const to = parseDate(values.to, '--to');
    if (values.session && !/^[A-Za-z0-9][A-Za-z0-9._:-]*$/.test(values.session)) {
      throw new UsageError('--session is not a valid session id');
    }

    const cfg = awsClientConfig({ endpoint });
    // An auditor's run should fail fast, not retry a dead endpoint for a minute.
    cfg.maxAttempts = 2;
    const s3 = new S3Client(cfg);
    try {
      let trust: ReturnType<typeof trustFromPublicKey>;
      if (values['public-key']) {
        let raw: Buffer;
        try {
          raw = readFileSync(values['public-key']);
        } catch (e) {
          throw new UsageError(`cannot read --public-key: ${(e as Error).message}`);
        }
        try {
          trust = trustFromPublicKey(raw);
        } catch (e) {
          throw new UsageError(`--public-key is not a PEM or DER public key: ${(e as Error).message}`);
        }
      } else {
        trust = await trustFromKms(new KMSClient(cfg), values['key-id']!);
      }
      const report = await verifyAudit({
        store: s3AuditStore(s3, values.bucket),
        prefix: values.prefix ?? 'audit/',
        session: values.session,
        from,
        to,
        trust,
        policy: { retentionDays, mode },
        maxDigestLagMs: lagMin !== undefined ? lagMin * 60_000 : undefined,
      });
      if (values.json) {
        io.out(JSON.stringify({ bucket: values.bucket, ...report }, null, 2));
      } else {
        io.out(
          table(
            report.chains.map((c) => ({
              chain: c.chain,
              objects: c.objects,
              events: c.events,
              digests: c.digests,
              digested: `${c.digestedThroughSeq}/${c.lastSeq}`,
              status: c.intact ? 'intact' : `${c.findings.length} finding(s)`,
            })),
          ),
        );
        if (report.findings.length > 0) {
          const shown = report.findings.slice(0, 50);
          io.out('');
          io.out(
            table(
              shown.map((f) => ({
                finding: f.code,
                chain: f.chain,
                at: f.seq !== undefined ? `object ${f.seq}` : f.digestSeq !== undefined ? `digest ${f.digestSeq}` : '-',
                detail: f.message,
              })),
            ),
          );
          if (report.findings.length > shown.length) {
            io.out(`... ${report.findings.length - shown.length} more (use --json for every finding)`);
          }
        }
        const counts = new Map<FindingCode, number>();
        for (const f of report.findings) counts.set(f.code, (counts.get(f.code) ?? 0) + 1);
        io.out(
          `\n${report.intact ? 'INTACT' : 'NOT INTACT'}: ${report.chains.length} chain(s), ${report.stats.objects} object(s), ` +
            `${report.stats.digests} digest(s), ${report.stats.events} event(s), ${(report.stats.bytes / 1e6).toFixed(1)} MB in ${report.stats.ms} ms` +
            (counts.size > 0 ? ` — ${[...counts].map(([c, n]) => `${c}×${n}`).join(', ')}` : ''),
        );
      }
      return report.intact ? Exit.Ok : Exit.Rejected;
    } catch (e) {
      throw explain(e, values.bucket);
    } finally {
      s3.destroy();
    }
  },
});

export const commands: CommandGroup = { verify };
