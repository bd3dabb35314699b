/**
 * `aidops incident report EXECUTION`: the incident report a person reads, from a
 * tombstone execution's evidence packet. It renders the page again with what the
 * evidence step could not know (the ticket, and the chain verdict when a key is
 * named), and checks the report the tombstone stored beside the packet against
 * the hash the packet records.
 */
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { KMSClient } from '@aws-sdk/client-kms';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { DescribeExecutionCommand } from '@aws-sdk/client-sfn';
import { s3AuditStore, trustFromKms, verifyAudit } from '../../lambdas/audit/verify.ts';
import { chainVerdictOf, sessionEvents } from '../../lambdas/remediation/report/events.ts';
import {
  DEFAULT_ISOLATION_OBJECTIVE_MS,
  type EvidencePacket,
  renderReport,
  timeToIsolation,
  triggerTime,
} from '../../lambdas/remediation/report/render.ts';
import { awsClientConfig } from '../../lambdas/shared/clients.ts';
import { NotFoundError } from '../../lambdas/shared/errors.ts';
import { type CommandGroup, command, Exit, UsageError } from '../args.ts';
import { cliNames, envOption } from '../env.ts';
import { clients, executionArn } from './incident.ts';

interface TombstoneOutput {
  packet?: { s3Uri?: string; versionId?: string | null; sha256?: string };
  opsItem?: { id?: string; url?: string };
}

type StoredPacket = EvidencePacket & { report?: { key: string; versionId: string; sha256: string } };

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

async function read(s3: S3Client, bucket: string, key: string, versionId?: string | null): Promise<Uint8Array> {
  const o = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, VersionId: versionId ?? undefined }));
  return await o.Body!.transformToByteArray();
}

const report = command({
  summary: "the incident report a person reads (HTML) from a tombstone's evidence packet",
  synopsis: 'EXECUTION [--html FILE] [--key-id KEY] [options]',
  positionals: 'EXECUTION',
  options: {
    html: { type: 'string', value: 'FILE', help: 'write the HTML page here (else print a summary)' },
    'key-id': { type: 'string', value: 'KEY', help: "the audit digest signing key: verify the session's chain" },
    objective: { type: 'string', value: 'SECONDS', help: 'time-to-isolation objective (default 60)' },
    endpoint: { type: 'string', value: 'URL', help: 'AWS endpoint (e.g. the local emulator); default AWS' },
    ...envOption,
  },
  notes: ['EXECUTION is a tombstone execution ARN or name.'],
  exit: '0 written, 1 the stored report does not match the packet, 2 bad usage or unreachable endpoint',
  examples: [
    'aidops incident report manual-ses-1a2b3c-20260619T211403 --html incident.html --key-id alias/aidops-dev-audit-digest',
  ],
  run: async ({ values, positionals, endpoint }, io) => {
    const ref = positionals[0];
    if (!ref || positionals.length > 1) throw new UsageError('name exactly one EXECUTION');
    const objectiveS = Number(values.objective ?? '60');
    if (!Number.isFinite(objectiveS) || objectiveS <= 0) throw new UsageError('--objective must be a positive number');
    const c = clients(endpoint);
    const arn = await executionArn(c, ref, [cliNames(values.env, io).tombstoneMachine]);
    const d = await c.sfn.send(new DescribeExecutionCommand({ executionArn: arn }));
    const out = (d.output ? JSON.parse(d.output) : {}) as TombstoneOutput;
    const m = /^s3:\/\/([^/]+)\/(.+)$/.exec(out.packet?.s3Uri ?? '');
    const [bucket, key] = [m?.[1], m?.[2]];
    if (!bucket || !key) throw new NotFoundError(`execution ${ref} has no evidence packet (status ${d.status})`);
    const cfg = awsClientConfig({ endpoint });
    const s3 = new S3Client(cfg);
    const packet = JSON.parse(
      Buffer.from(await read(s3, bucket, key, out.packet?.versionId)).toString('utf8'),
    ) as StoredPacket;

    // The stored report is evidence: it must be the one the packet names.
    let stored: 'matches the packet' | 'DOES NOT MATCH the packet' | 'absent' = 'absent';
    if (packet.report) {
      const body = await read(s3, bucket, packet.report.key, packet.report.versionId);
      stored = sha256(body) === packet.report.sha256 ? 'matches the packet' : 'DOES NOT MATCH the packet';
    }
    const sessionId = packet.sessionId;
    const events = sessionId
      ? await sessionEvents(s3, bucket, packet.audit.objects, triggerTime(packet) ?? packet.createdAt)
      : [];
    const chain =
      sessionId && values['key-id']
        ? chainVerdictOf(
            await verifyAudit({
              store: s3AuditStore(s3, packet.audit.bucket, { endpoint }),
              prefix: packet.audit.prefix,
              session: sessionId,
              trust: await trustFromKms(new KMSClient(cfg), values['key-id'], { endpoint }),
              policy: { retentionDays: 1 },
            }),
            sessionId,
          )
        : null;
    const objectiveMs = values.objective ? objectiveS * 1000 : DEFAULT_ISOLATION_OBJECTIVE_MS;
    const html = renderReport({
      packet,
      events,
      chain,
      packetRef: { key, versionId: out.packet?.versionId ?? null, sha256: out.packet?.sha256 ?? '' },
      ticket: out.opsItem?.id ? { id: out.opsItem.id, url: out.opsItem.url } : null,
      objectiveMs,
    });
    const tti = timeToIsolation(packet, triggerTime(packet));
    if (values.html) writeFileSync(values.html, html);
    io.out(
      [
        `incident ${packet.incidentId} (session ${sessionId ?? '-'}, instance ${packet.instanceId})`,
        `  time to isolation: ${tti === null ? 'unknown' : `${(tti / 1000).toFixed(1)} s`} (objective ${objectiveMs / 1000} s)`,
        `  audit chain: ${chain ? (chain.intact ? 'intact' : `NOT intact (${chain.findings.length} finding(s))`) : 'not checked (name --key-id)'}`,
        `  snapshots: ${packet.snapshots.map((s) => s.snapshotId).join(', ') || '-'}`,
        `  ticket: ${out.opsItem?.id ?? '-'}`,
        `  stored report: ${packet.report ? `s3://${bucket}/${packet.report.key}` : '-'} (${stored})`,
        values.html ? `  written: ${values.html}` : '  (--html FILE writes the page)',
      ].join('\n'),
    );
    return stored === 'DOES NOT MATCH the packet' ? Exit.Rejected : Exit.Ok;
  },
});

export const commands: CommandGroup = { report };
