/**
 * `aidops audit verify`: checks an audit bucket — every hash, chain link, digest
 * signature and Object Lock retention — trusting the public key the auditor names
 * for digests and the chain-head table (read-only) for where each chain ends and
 * which chains exist. Exit 0 intact, 1 findings, 2 usage or connection error.
 */
import { readFileSync } from 'node:fs';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KMSClient } from '@aws-sdk/client-kms';
import { S3Client } from '@aws-sdk/client-s3';
import { dynamoHeadStore, headTableName } from '../../lambdas/audit/heads.ts';
import {
  FINDING_HELP,
  type FindingCode,
  s3AuditStore,
  trustFromKms,
  trustFromPublicKey,
  verifyAudit,
} from '../../lambdas/audit/verify.ts';
import { httpStatusOf, networkFailure } from '../../lambdas/shared/aws-errors.ts';
import { awsClientConfig } from '../../lambdas/shared/clients.ts';
import { EndpointUnreachableError } from '../../lambdas/shared/errors.ts';
import { type CommandGroup, command, Exit, table, UsageError } from '../args.ts';
import { environmentOf } from '../env.ts';

/** Turns "no such bucket/table/key" and "access denied" into usage errors (exit 2) that say what to fix. */
function explain(e: unknown, bucket: string, headTable: string | undefined, endpoint: string | undefined): unknown {
  const name = (e as { name?: string } | undefined)?.name;
  const message = (e as { message?: string } | undefined)?.message ?? String(e);
  if (e instanceof EndpointUnreachableError) {
    // The one line every command prints for an endpoint nobody answers on.
    return new EndpointUnreachableError(
      `cannot reach ${endpoint ?? 'the AWS endpoint'}: ${networkFailure(e) ?? 'unreachable'}`,
      e.details,
    );
  }
  if (name === 'NoSuchBucket') return new UsageError(`bucket ${bucket} does not exist`);
  if (name === 'NotFoundException') return new UsageError(`KMS key not found: ${message}`);
  if (name === 'ResourceNotFoundException') {
    return new UsageError(`head table ${headTable} does not exist (name it with --head-table, or verify --offline)`);
  }
  if (name === 'AccessDenied' || name === 'AccessDeniedException' || httpStatusOf(e) === 403) {
    return new UsageError(
      `access denied: ${message} (the verifier needs s3:ListBucketVersions, s3:GetObjectVersion, ` +
        'and dynamodb:GetItem, dynamodb:Scan on the head table)',
    );
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
    'head-table': {
      type: 'string',
      value: 'NAME',
      help: 'the chain-head table, read-only (default $AIDOPS_AUDIT_HEAD_TABLE or aidops-<environment>-audit-heads)',
    },
    environment: {
      type: 'string',
      value: 'ENV',
      help: 'the deployment (aidops:environment) whose head table to read (default $AIDOPS_ENVIRONMENT, $AIDOPS_ENV, else dev)',
    },
    offline: {
      type: 'boolean',
      help: 'no head table: objects after the last digest cannot be told from forged ones, unknown chains go unreported',
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
  examples: [
    'aidops audit verify --bucket my-audit-bucket --key-id alias/aidops-prod-audit-digest --environment prod --session ses-1a2b3c',
    'aidops audit verify --bucket my-audit-bucket --public-key digest.pem --head-table aidops-prod-audit-heads --max-digest-lag 90',
  ],
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
    if (values.offline && (values['head-table'] || values.environment)) {
      throw new UsageError('--offline reads no head table: drop --head-table and --environment');
    }
    const environment = values.environment ?? io.env.AIDOPS_ENVIRONMENT ?? environmentOf(undefined, io);
    if (!/^[a-z][a-z0-9-]{1,20}$/.test(environment))
      throw new UsageError('--environment is not a valid environment name');
    const headTable = values.offline
      ? undefined
      : (values['head-table'] ?? io.env.AIDOPS_AUDIT_HEAD_TABLE ?? headTableName(environment));

    const cfg = awsClientConfig({ endpoint });
    // An auditor's run should fail fast, not retry a dead endpoint for a minute.
    cfg.maxAttempts = 2;
    const s3 = new S3Client(cfg);
    const ddb = new DynamoDBClient(cfg);
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
        trust = await trustFromKms(new KMSClient(cfg), values['key-id']!, { endpoint });
      }
      const report = await verifyAudit({
        store: s3AuditStore(s3, values.bucket, { endpoint }),
        heads: headTable ? dynamoHeadStore(ddb, headTable) : undefined,
        prefix: values.prefix ?? 'audit/',
        session: values.session,
        from,
        to,
        trust,
        policy: { retentionDays, mode },
        maxDigestLagMs: lagMin !== undefined ? lagMin * 60_000 : undefined,
      });
      if (values.json) {
        io.out(JSON.stringify({ bucket: values.bucket, headTable: headTable ?? null, ...report }, null, 2));
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
              head: headTable ? (c.anchored ? 'known' : 'unknown') : 'offline',
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
      throw explain(e, values.bucket, headTable, endpoint);
    } finally {
      s3.destroy();
      ddb.destroy();
    }
  },
});

export const commands: CommandGroup = { verify };
