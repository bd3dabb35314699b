/**
 * A bundle landing in the staging bucket starts plugin admission: the synthesized
 * S3 → EventBridge rule, delivered by the local EventBridge stand-in to the real
 * on-upload handler, which starts the synthesized workflow through the SFN API.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { admissionFromUpload } from '../../lambdas/plugins/upload.ts';
import { names } from '../../lambdas/shared/names.ts';
import { deliverEvent } from '../../local/events.ts';
import { SIGSTORE_VECTORS } from '../../local/fixtures.ts';
import { useRuntime } from '../helpers/runtime.ts';

const _HERE = path.dirname(fileURLToPath(import.meta.url));
const SIGSTORE = SIGSTORE_VECTORS;
const ROOT = readFileSync(path.join(SIGSTORE, 'roots/public-good-trusted_root.json'));
const ARTIFACT = readFileSync(path.join(SIGSTORE, 'github-attestations/custom-issuer-artifact'));
const BUNDLE = readFileSync(path.join(SIGSTORE, 'github-attestations/custom-issuer.sigstore.json'));

function objectCreated(bucket: string, key: string, versionId: string, id = `evt-${versionId}`) {
  return {
    source: 'aws.s3',
    'detail-type': 'Object Created',
    id,
    detail: { version: '0', bucket: { name: bucket }, object: { key, 'version-id': versionId, size: 1 } },
  };
}

describe('plugin admission starts when a bundle lands in the staging bucket', () => {
  const rt = useRuntime();

  it('one upload, delivered twice, starts one admission with the right input; the deployed policy decides', async () => {
    const s3 = new S3Client(rt().clientConfig());
    const bucket = rt().ref('PluginsStaging');
    const base = 'plugins/@acme/pdf-tools/-/1.2.0/custom-issuer-artifact';
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'sigstore/trusted_root.json', Body: ROOT }));
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: base, Body: ARTIFACT }));
    const put = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: `${base}.sigstore.json`, Body: BUNDLE }));
    const event = objectCreated(bucket, `${base}.sigstore.json`, put.VersionId ?? 'v1');

    const first = await deliverEvent(rt(), event, 'default');
    const again = await deliverEvent(rt(), { ...event, id: 'a-redelivery' }, 'default');
    assert.equal(first.length, 1, JSON.stringify(first));
    assert.equal(first[0]?.error, undefined, first[0]?.error);
    // StartExecution with the same name and input is idempotent (a closed run answers ExecutionAlreadyExists).
    assert.equal(
      (again[0]!.result as { executionName: string }).executionName,
      (first[0]!.result as { executionName: string }).executionName,
    );

    const runs = [...rt().sfn.executions.values()].filter((e) => e.stateMachineName === names().pluginAdmissionMachine);
    assert.equal(runs.length, 1);
    const run = runs[0]!;
    assert.deepEqual(run.input, {
      pluginId: '@acme/pdf-tools',
      version: '1.2.0',
      bucket,
      key: base,
      bundleKey: `${base}.sigstore.json`,
      requestedBy: 'staging-upload',
    });
    const done = await run.done;
    // The default deployment trusts only example-org's release workflow: this real bundle verifies, then the policy refuses it.
    assert.equal(done.status, 'FAILED');
    assert.equal(done.error, 'ISSUER_MISMATCH', done.cause);
  });

  it('ignores objects that are not bundles, and rejects a bundle outside the layout with a named error', async () => {
    const bucket = rt().ref('PluginsStaging');
    const artifactOnly = await deliverEvent(rt(), objectCreated(bucket, 'plugins/x/-/1.0.0/x.tgz', 'v2'), 'default');
    assert.equal(artifactOnly.length, 0, 'the rule matches bundles only');
    assert.equal(admissionFromUpload(objectCreated(bucket, 'elsewhere/x.sigstore.json', 'v3')), null);
    const bad = await deliverEvent(
      rt(),
      objectCreated(bucket, 'plugins/no-separator/x.sigstore.json', 'v4'),
      'default',
    );
    assert.match(bad[0]?.error ?? '', /^ValidationError: staged key plugins\/no-separator/);
    assert.throws(() => admissionFromUpload({ source: 'aws.s3' }), { name: 'ValidationError' });
  });
});
