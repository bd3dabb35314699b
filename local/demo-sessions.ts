/**
 * Demo: one session of each tier, from request to active to its end, in a
 * LocalRuntime. Medium and low are attested with REAL documents (a Nitro
 * Enclave document and a NitroTPM document from test/fixtures, each
 * document's nonce issued to its session and the clock set inside its window),
 * against profiles that pin those documents' images (`demoSessionsConfig`).
 * A document names the instance it was made on, which moto cannot launch: the
 * demo shows the document refused for the emulated instance, then records the
 * document's instance as the session's and attests for real, as that instance
 * would: a SigV4-signed request to the guests' door (the private REST API,
 * served by the local API Gateway stand-in) with its instance-profile session.
 * No public SEV-SNP report binds a nonce this control plane issued, so the high
 * session's attestation callback is answered by the demo itself (said so in the output).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { SendTaskSuccessCommand, SFNClient } from '@aws-sdk/client-sfn';
import { decodeEvidence, verdictOf } from '../lambdas/attestation/evidence.ts';
import { instanceOfModuleId, parseNitroDocument } from '../lambdas/attestation/nitro.ts';
import { DynamoNonceStore } from '../lambdas/attestation/nonce-store.ts';
import { attestationClock } from '../lambdas/doors/guest/handlers/deps.ts';
import { SessionTable } from '../lambdas/sessions/table.ts';
import { names } from '../lambdas/shared/names.ts';
import { Tags, tagValue } from '../lambdas/shared/tags.ts';
import { ATTESTATION_VECTORS } from './fixtures.ts';
import type { LocalRuntime } from './runtime.ts';
import { callApi } from './standins/api-gateway/client.ts';

const TESTDATA = ATTESTATION_VECTORS;

interface RealDocument {
  readonly evidenceType: 'nitro-enclave' | 'nitrotpm';
  readonly file: string;
  readonly encoding: 'hex' | 'raw';
  readonly nonce: string;
  readonly at: Date;
}

const DOCS: Record<string, RealDocument> = {
  medium: {
    evidenceType: 'nitro-enclave',
    file: 'nitro-enclave/confidior-2026-07-07-us-east-2.hex',
    encoding: 'hex',
    nonce: '3ee1db6c2f6434596c5e27a66d9fb666be958dc628268f3a221ebb3ac603f7e9',
    at: new Date(1783456414261 + 5_000),
  },
  low: {
    evidenceType: 'nitrotpm',
    file: 'nitrotpm/vaportpm-2026-02-03-us-east-1.cbor',
    encoding: 'raw',
    nonce: '230af3f7c0ec43ccf99a4cab47ac61469a36ea74b1e79740fdf8ccfc8f56161a',
    at: new Date(1770113522437 + 5_000),
  },
};

function documentOf(doc: RealDocument): Buffer {
  const raw = readFileSync(join(TESTDATA, doc.file));
  return doc.encoding === 'hex' ? Buffer.from(decodeEvidence(raw, 'hex')) : raw;
}

/** Sessions config whose medium and low profiles pin the images of the demo's real documents. */
export function demoSessionsConfig() {
  const pcrs = (doc: RealDocument, want: readonly number[]) => {
    const all = parseNitroDocument(documentOf(doc)).pcrs;
    return Object.fromEntries(want.map((i) => [String(i), Buffer.from(all.get(i)!).toString('hex')]));
  };
  return {
    profiles: {
      'enclave-parent': {
        unpinned: false,
        attestationPolicy: { enclaveImages: [{ name: 'demo enclave', pcrs: pcrs(DOCS.medium!, [0, 1, 2]) }] },
      },
      hardened: {
        unpinned: false,
        attestationPolicy: { tpmImages: [{ name: 'demo boot chain', pcrs: pcrs(DOCS.low!, [4, 7]) }] },
      },
    },
  };
}

const USE_CASES = { low: 'document-summary', medium: 'document-authoring', high: 'financial-operations' } as const;

/** Starts one session per tier, drives each to active and to its end; returns printable lines. */
export async function runSessionDemo(rt: LocalRuntime, opts: { runId?: string } = {}): Promise<string[]> {
  const lines: string[] = [];
  const out = (s: string) => lines.push(s);
  const cfg = rt.clientConfig();
  const ddb = new DynamoDBClient(cfg);
  const sessions = new SessionTable(ddb, names().sessionTable);
  const sfn = new SFNClient(cfg);
  const ec2 = new EC2Client(cfg);
  const nonceTable = rt.ref('AttestationNonces');
  const run = opts.runId ?? Date.now().toString(36);
  for (const tier of ['low', 'medium', 'high'] as const) {
    const sessionId = `ses-demo-${tier}-${run}`;
    const exec = rt.sfn.start(
      names().sessionMachine,
      { user: 'demo@example.com', useCase: USE_CASES[tier], ttl: '1h' },
      sessionId,
    );
    const parked = await Promise.race([
      rt.sfn.waitForPending((p) => p.stateName === 'Wait for attestation' && p.executionArn === exec.executionArn),
      exec.done.then((e) => {
        throw new Error(`${sessionId} ended before attestation: ${e.status} ${e.error}: ${e.cause}`);
      }),
    ]);
    const item = await sessions.mustGet(sessionId);
    const inst = (await ec2.send(new DescribeInstancesCommand({ InstanceIds: [item.instanceId!] }))).Reservations?.[0]
      ?.Instances?.[0];
    out(
      `${tier.padEnd(6)} ${sessionId}: ${item.profile} on ${item.instanceType} ${item.instanceId} (${inst?.State?.Name}), tags tier=${tagValue(inst?.Tags, Tags.Tier)} expires=${tagValue(inst?.Tags, Tags.ExpiresAt)}`,
    );
    const doc = DOCS[tier];
    if (doc) {
      await new DynamoNonceStore(ddb, { tableName: nonceTable, now: () => doc.at.getTime() }).issue(sessionId, {
        nonce: Buffer.from(doc.nonce, 'hex'),
      });
      const bytes = documentOf(doc);
      const madeOn = instanceOfModuleId(parseNitroDocument(bytes).moduleId)!;
      const refused = verdictOf({
        type: doc.evidenceType,
        evidence: bytes,
        at: doc.at,
        instanceId: item.instanceId!,
      });
      out(
        `       the document was made on ${madeOn}; for this session's ${item.instanceId} it is ${refused.verdict} (${refused.reason})`,
      );
      // moto cannot launch the instance the real document comes from: the session record names it instead.
      await sessions.update(sessionId, { instanceId: madeOn });
      out(`       the session record now names ${madeOn} as its instance (the emulator cannot launch it)`);
      // The guest's own request: signed with the instance-profile role session EC2 gives that instance.
      const credentials = await rt.assumeRole('SessionsInstanceRole', madeOn);
      // The door's verification clock inside the document's certificate window (it expired hours later).
      attestationClock.now = () => doc.at;
      let r: { verdict?: string; reason?: string | null; sealedSecrets?: unknown };
      let status: number;
      try {
        const res = await callApi(`${rt.apiEndpoint('SessionsGuestDoor')}v1/evidence`, {
          method: 'POST',
          credentials,
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ evidenceType: doc.evidenceType, evidence: bytes.toString('base64') }),
        });
        status = res.status;
        r = res.json() as typeof r;
      } finally {
        attestationClock.now = () => new Date();
      }
      out(
        `       attestation through the guests' door (POST /v1/evidence, SigV4 as ${madeOn}, HTTP ${status}): real ${doc.evidenceType} document ${doc.file}: ${r.verdict ?? 'refused'}${r.reason ? ` (${r.reason})` : ''}${r.sealedSecrets ? ', secrets sealed to the attested key' : ''}`,
      );
    } else {
      rt.sfn.sendTaskSuccess(parked.token, { verdict: 'verified', note: 'answered by the demo' });
      out('       attestation: SEV-SNP: no public report binds a nonce issued here; callback answered by the demo');
    }
    const activeTask = await rt.sfn.waitForPending(
      (p) => p.stateName === 'Active: wait for end or TTL' && p.executionArn === exec.executionArn,
    );
    const active = await sessions.mustGet(sessionId);
    out(`       ${active.status}: waiting for the end signal or the TTL (${active.expiresAt})`);
    await sfn.send(
      new SendTaskSuccessCommand({
        // The parked task's own token: the table's copy is written by the task's handler, a moment later.
        taskToken: activeTask.token,
        output: JSON.stringify({ endedBy: 'demo', reason: 'demo finished' }),
      }),
    );
    const fin = await exec.done;
    const ended = await sessions.mustGet(sessionId);
    const states = fin.timeline.filter((e) => e.type === 'StateEntered').length;
    const torn = (fin.output as { torn?: { terminated?: string[]; secretDeleted?: boolean } } | undefined)?.torn;
    out(
      `       ${fin.status}: ${ended.status} (${ended.reason}); ${states} states, ${fin.stopDate! - fin.startDate} ms; terminated ${torn?.terminated?.join(',') || 'none'}, secrets ${torn?.secretDeleted ? 'deleted' : 'none'}`,
    );
  }
  return lines;
}
