/** The thin handlers wired over moto: env config, warm verifier from the S3 root cache, registry. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { createRegistryTable } from '../../lambdas/plugins/registry.ts';
import { FETCHED_AT_META } from '../../lambdas/plugins/trusted-root.ts';
import { awsClientConfig } from '../../lambdas/shared/clients.ts';
import { type MotoServer, startMoto } from '../../local/emulator/moto.ts';
import { localContext } from '../../local/lambda-context.ts';
import { BEACON_SAN, conformanceCases, GHA_ISSUER, PUBLIC_GOOD_ROOT } from '../unit/plugins/vectors.ts';

let moto: MotoServer;
const happy = conformanceCases().find((c) => c.name === 'happy-path-v0.3');
assert.ok(happy);

before(async () => {
  moto = await startMoto();
  Object.assign(process.env, {
    AWS_ENDPOINT_URL: moto.endpoint,
    REGISTRY_TABLE: 'h-plugins',
    TRUSTED_ROOT_BUCKET: 'h-staging',
    TRUST_POLICY: JSON.stringify({
      version: 1,
      signers: [{ kind: 'oidc', issuer: GHA_ISSUER, subject: BEACON_SAN }],
      provenance: { required: false },
      newPublisherNeedsApproval: false,
    }),
    POWERTOOLS_DEV: 'true',
    POWERTOOLS_TRACE_ENABLED: 'false',
    POWERTOOLS_METRICS_DISABLED: 'true',
  });
  const s3 = new S3Client(awsClientConfig({ endpoint: moto.endpoint }));
  await s3.send(new CreateBucketCommand({ Bucket: 'h-staging' }));
  await s3.send(
    new PutObjectCommand({
      Bucket: 'h-staging',
      Key: 'sigstore/trusted_root.json',
      Body: PUBLIC_GOOD_ROOT,
      Metadata: { [FETCHED_AT_META]: new Date().toISOString() },
    }),
  );
  await s3.send(new PutObjectCommand({ Bucket: 'h-staging', Key: 'in/a.txt', Body: happy.artifact }));
  await s3.send(new PutObjectCommand({ Bucket: 'h-staging', Key: 'in/a.sigstore.json', Body: happy.bundle }));
  await createRegistryTable(new DynamoDBClient(awsClientConfig({ endpoint: moto.endpoint })), 'h-plugins');
});
after(async () => {
  await moto?.stop();
});

describe('plugin handlers', () => {
  it('verify-staged → record-admission → is-allowed → revoke → is-allowed', async () => {
    const { handler: verify } = await import('../../lambdas/plugins/handlers/verify-staged.ts');
    const { handler: record } = await import('../../lambdas/plugins/handlers/record-admission.ts');
    const { handler: allowed } = await import('../../lambdas/plugins/handlers/is-allowed.ts');
    const { handler: revoke } = await import('../../lambdas/plugins/handlers/revoke.ts');
    const ctx = localContext('test');
    const v = await verify(
      { bucket: 'h-staging', key: 'in/a.txt', bundleKey: 'in/a.sigstore.json', pluginId: 'p', version: '1' },
      ctx,
    );
    assert.equal(v.verdict, 'admit', v.message);
    const r = await record({ facts: v.facts, admittedBy: 'wf' }, ctx);
    assert.equal(r.record.status, 'admitted');
    const digest = v.facts?.digest as string;
    assert.equal((await allowed({ pluginId: 'p', version: '1', digest }, ctx)).allowed, true);
    await revoke({ pluginId: 'p', version: '1', by: 'ops', reason: 'test' }, ctx);
    // The is-allowed handler's module-level registry may serve its ≤30 s cache; a later time reads fresh.
    const { PluginRegistry } = await import('../../lambdas/plugins/registry.ts');
    const fresh = new PluginRegistry(new DynamoDBClient(awsClientConfig({ endpoint: moto.endpoint })), {
      tableName: 'h-plugins',
    });
    assert.equal((await fresh.isAllowed('p', '1', digest)).revoked, true);
    await assert.rejects(
      verify({ bucket: 'h-staging', key: 'in/none', bundleKey: 'x', pluginId: 'p', version: '2' }, ctx),
      {
        name: 'NotFoundError',
      },
    );
    await assert.rejects(verify({ bucket: 'h-staging' }, ctx), { name: 'ValidationError' });
  });
});
