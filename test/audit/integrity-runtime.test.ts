/**
 * The writer and digester handlers as deployed (local runtime: the synthesized
 * app, its environment, moto): a squatted chain key and a refused digest each put
 * an audit-integrity event (security / integrity_failure) on the bus, which the
 * trail then records in the chain it is about; the refused digest also fails the
 * invocation (the digester's error alarm), and nothing is signed.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DynamoDBClient, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { GetObjectCommand, ListObjectVersionsCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { chainObjectKey } from '../../lambdas/audit/chain.ts';
import { newEvent, publishAuditEvents } from '../../lambdas/audit/schema.ts';
import { useRuntime } from '../helpers/runtime.ts';

const SESSION = 'ses-integrity';

describe('audit-integrity events from the deployed writer and digester', () => {
  const rt = useRuntime();
  const s3 = () => new S3Client(rt().clientConfig());

  async function publish(n: number): Promise<void> {
    const events = Array.from({ length: n }, (_, i) =>
      newEvent('health', {
        source: 'test',
        sessionId: SESSION,
        detail: { type: 'lifecycle', state: 'running', reason: `tick ${i}` },
      }),
    );
    await publishAuditEvents(new EventBridgeClient(rt().clientConfig()), rt().ref('AuditIngestBus'), events);
    await rt().pumpEventSources();
  }

  /** Every event line of the chain, in the order of the keys. */
  async function chainEvents(): Promise<{ kind: string; detail: Record<string, string> }[]> {
    const bucket = rt().ref('AuditBucketPinned');
    const v = await s3().send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: `audit/chains/${SESSION}/` }));
    const out = [];
    for (const x of (v.Versions ?? []).sort((a, b) => a.Key!.localeCompare(b.Key!))) {
      const o = await s3().send(new GetObjectCommand({ Bucket: bucket, Key: x.Key, VersionId: x.VersionId }));
      const lines = (await o.Body!.transformToString()).trim().split('\n').slice(1);
      for (const l of lines) {
        try {
          out.push(JSON.parse(l));
        } catch {
          // the squatter's junk
        }
      }
    }
    return out;
  }

  const integrity = async (component: string) =>
    (await chainEvents()).filter((e) => e.kind === 'security' && e.detail.component === component);

  it('a squatted chain key: the writer skips it and the trail records an audit-integrity event', async () => {
    await publish(2);
    await s3().send(
      new PutObjectCommand({
        Bucket: rt().ref('AuditBucketPinned'),
        Key: chainObjectKey('audit/', SESSION, 2),
        Body: 'squatted\n',
      }),
    );
    await publish(2);
    await rt().pumpEventSources();
    const found = await integrity('audit-chain-key-squatted');
    assert.equal(found.length, 1);
    assert.match(found[0]!.detail.expected!, new RegExp(`${chainObjectKey('audit/', SESSION, 2)} sha256=[0-9a-f]{64}`));
    assert.equal(found[0]!.detail.type, 'integrity_failure');
  });

  it('a chain whose new objects do not check out: the digester refuses, fails, and the trail records why', async () => {
    await rt().fireSchedule('AuditIngestDigestSchedule');
    await publish(1);
    // The head no longer matches the newest object (someone wrote the head table).
    await new DynamoDBClient(rt().clientConfig()).send(
      new UpdateItemCommand({
        TableName: rt().ref('AuditIngestChainHeads'),
        Key: { chain: { S: SESSION } },
        UpdateExpression: 'SET sha256 = :h',
        ExpressionAttributeValues: { ':h': { S: '0'.repeat(64) } },
      }),
    );
    await assert.rejects(rt().fireSchedule('AuditIngestDigestSchedule'), (e: Error) => e.name === 'TransientError');
    await rt().pumpEventSources();
    const found = await integrity('audit-digest-refused');
    assert.equal(found.length, 1);
    assert.match(
      found[0]!.detail.actual!,
      /^HASH_MISMATCH: chain ses-integrity: object \d+ does not match the SHA-256 the chain head recorded/,
    );
    const digests = await s3().send(
      new ListObjectVersionsCommand({ Bucket: rt().ref('AuditBucketPinned'), Prefix: `audit/digests/${SESSION}/` }),
    );
    assert.equal(digests.Versions?.length, 1, 'only the digest from before the tampering');
  });
});
