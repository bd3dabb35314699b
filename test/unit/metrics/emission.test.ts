/**
 * Each operations metric from the core that emits it: the cores take a metric
 * sink (handlers pass `metric` from lambdas/shared/middleware.ts), the tests a
 * recorder; the AWS side is moto (no SDK mocks). The helper itself is checked
 * on its EMF output (stdout): one record per call, the service dimension, and
 * per-event dimensions that do not stick to the next metric.
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  CreateLaunchTemplateCommand,
  CreateSecurityGroupCommand,
  CreateSubnetCommand,
  CreateVpcCommand,
  EC2Client,
  RunInstancesCommand,
} from '@aws-sdk/client-ec2';
import { DeleteObjectCommand, GetObjectCommand } from '@aws-sdk/client-s3';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { CreateStateMachineCommand, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { SSMClient } from '@aws-sdk/client-ssm';
import { runAttestationStep, type TaskCallbacks } from '../../../lambdas/attestation/step.ts';
import { chainObjectKey } from '../../../lambdas/audit/chain.ts';
import { runDigests } from '../../../lambdas/audit/digest.ts';
import { createDecider } from '../../../lambdas/policy/decide.ts';
import { writeEvidence } from '../../../lambdas/remediation/tombstone/evidence.ts';
import { isolate } from '../../../lambdas/remediation/tombstone/isolate.ts';
import { validateTombstone } from '../../../lambdas/remediation/tombstone/validate.ts';
import { launch } from '../../../lambdas/sessions/launch.ts';
import type { SessionContext } from '../../../lambdas/sessions/model.ts';
import { sweep } from '../../../lambdas/sessions/sweeper.ts';
import { SessionTable } from '../../../lambdas/sessions/table.ts';
import { TIERS } from '../../../lambdas/sessions/tiers.ts';
import { awsClientConfig } from '../../../lambdas/shared/clients.ts';
import { type MetricDimensions, type MetricSink, metric } from '../../../lambdas/shared/middleware.ts';
import { Tags } from '../../../lambdas/shared/tags.ts';
import { type MotoServer, startMoto } from '../../../local/emulator/moto.ts';
import { InMemoryNonceStore } from '../../attestation/helpers.ts';
import { type AuditEnv, digestDeps, setupAuditEnv, writeChain } from '../../audit/helpers.ts';
import { MOTO_AMI } from '../../helpers/sessions.ts';
import { load } from '../attestation/vectors.ts';

interface Emitted {
  name: string;
  unit: string;
  value: number;
  dimensions: MetricDimensions;
}
function recorder(): { sink: MetricSink; emitted: Emitted[] } {
  const emitted: Emitted[] = [];
  return { emitted, sink: (name, unit, value, dimensions = {}) => emitted.push({ name, unit, value, dimensions }) };
}
const named = (e: Emitted[], name: string) => e.filter((x) => x.name === name);

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

let moto: MotoServer;
let cfg: ReturnType<typeof awsClientConfig>;
before(async () => {
  moto = await startMoto();
  cfg = awsClientConfig({ endpoint: moto.endpoint });
});
after(async () => {
  await moto?.stop();
});

describe('metric helper (EMF on stdout)', () => {
  it('one record per call, service=aidops, its own dimensions only', () => {
    const lines: string[] = [];
    const write = process.stdout.write.bind(process.stdout);
    const saved = process.env.POWERTOOLS_METRICS_DISABLED;
    delete process.env.POWERTOOLS_METRICS_DISABLED;
    process.stdout.write = ((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    }) as typeof process.stdout.write;
    try {
      metric('TimeToIsolation', 'Seconds', 4.5, { Tier: 'high' });
      metric('AttestationRejected', 'Count', 1);
    } finally {
      process.stdout.write = write;
      if (saved !== undefined) process.env.POWERTOOLS_METRICS_DISABLED = saved;
    }
    const records = lines
      .join('')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.equal(records.length, 2);
    const [a, b] = records;
    assert.deepEqual(a._aws.CloudWatchMetrics, [
      {
        Namespace: 'AiDesktopOps',
        Dimensions: [['service', 'Tier']],
        Metrics: [{ Name: 'TimeToIsolation', Unit: 'Seconds' }],
      },
    ]);
    assert.deepEqual([a.service, a.Tier, a.TimeToIsolation], ['aidops', 'high', 4.5]);
    // The first call's Tier does not persist onto the next metric.
    assert.deepEqual(b._aws.CloudWatchMetrics[0].Dimensions, [['service']]);
    assert.equal(b.Tier, undefined);
    assert.equal(b.AttestationRejected, 1);
  });
});

describe('Decision (policy decide core)', () => {
  it('by action, effect and tier', async () => {
    const r = recorder();
    const d = await createDecider({ engine: 'cedar', policies: path.join(ROOT, 'policies'), metric: r.sink });
    const req = (p: string) => ({
      session: { id: 'sess-m', tier: 'high', cohort: 'pilot', approvedScopes: [] },
      principal: { id: 'alice@example.com' },
      action: 'fs_write',
      resource: { kind: 'file', path: p },
      context: { time: '2025-06-01T12:00:00Z', attestation: { status: 'verified' } },
    });
    await d.decide(req('/finance/q3.xlsx'));
    await d.decide(req('/tmp/notes.txt'));
    assert.deepEqual(r.emitted, [
      { name: 'Decision', unit: 'Count', value: 1, dimensions: { Action: 'fs_write', Effect: 'deny', Tier: 'high' } },
      { name: 'Decision', unit: 'Count', value: 1, dimensions: { Action: 'fs_write', Effect: 'allow', Tier: 'high' } },
    ]);
  });
});

describe('AttestationVerified / AttestationRejected (attestation step core)', () => {
  const doc = load('nitro-enclave/confidior-2026-07-07-us-east-2.hex');
  const nonce = Buffer.from('3ee1db6c2f6434596c5e27a66d9fb666be958dc628268f3a221ebb3ac603f7e9', 'hex');
  const at = new Date(1783456414261 + 5_000);
  const callbacks: TaskCallbacks = { success: async () => undefined, failure: async () => undefined };

  it('verified: in all and by evidence type; rejected: in all and by reason code', async () => {
    const sm = new SecretsManagerClient(cfg);
    await sm.send(new CreateSecretCommand({ Name: 'aidops/session/m-enc', SecretString: '{"token":"t"}' }));
    const r = recorder();
    const nonceStore = new InMemoryNonceStore(() => at.getTime());
    const deps = { nonceStore, secrets: sm, callbacks, secretPrefix: 'aidops/session/', now: () => at, metric: r.sink };
    await nonceStore.issue('m-enc', { nonce });
    const input = {
      taskToken: 'tt-m',
      sessionId: 'm-enc',
      evidenceType: 'nitro-enclave' as const,
      evidence: doc.toString('base64'),
    };
    const binding = { instanceId: 'i-01067cfa560f27f3d', unpinned: true };
    const ok = await runAttestationStep(input, binding, deps);
    assert.equal(ok.verdict, 'verified', ok.message);
    const replay = await runAttestationStep(input, binding, deps);
    assert.equal(replay.verdict, 'rejected');
    assert.deepEqual(named(r.emitted, 'AttestationVerified'), [
      { name: 'AttestationVerified', unit: 'Count', value: 1, dimensions: { EvidenceType: 'nitro-enclave' } },
      { name: 'AttestationVerified', unit: 'Count', value: 1, dimensions: {} },
    ]);
    assert.deepEqual(named(r.emitted, 'AttestationRejected'), [
      { name: 'AttestationRejected', unit: 'Count', value: 1, dimensions: {} },
      { name: 'AttestationRejected', unit: 'Count', value: 1, dimensions: { Reason: replay.reason! } },
    ]);
    assert.equal(replay.reason, 'NONCE_REUSED');
    sm.destroy();
  });
});

describe('AuditLag (digester core)', () => {
  let env: AuditEnv;
  before(async () => {
    env = await setupAuditEnv(moto.endpoint, { mode: 'GOVERNANCE' });
  });

  it('0 when every chain is covered; else the age of the oldest undigested object, by S3 time', async () => {
    await writeChain(env, 'lag-ok', 2);
    const r1 = recorder();
    const only = (chain: string) => ({
      ...env.heads,
      list: async function* () {
        yield await env.heads.get(chain);
      },
    });
    const run1 = await runDigests({ ...digestDeps(env), heads: only('lag-ok'), metric: r1.sink });
    assert.equal(run1.written.length, 1);
    assert.deepEqual(r1.emitted, [{ name: 'AuditLag', unit: 'Seconds', value: 0, dimensions: {} }]);

    // A chain the digester refuses (an object gone before it was digested) stays uncovered.
    await writeChain(env, 'lag-stuck', 2);
    const second = chainObjectKey('audit/', 'lag-stuck', 2);
    const cur = await env.s3.send(new GetObjectCommand({ Bucket: env.bucket, Key: second }));
    await env.s3.send(
      new DeleteObjectCommand({
        Bucket: env.bucket,
        Key: second,
        VersionId: cur.VersionId,
        BypassGovernanceRetention: true,
      }),
    );
    const written = (
      await env.s3.send(new GetObjectCommand({ Bucket: env.bucket, Key: chainObjectKey('audit/', 'lag-stuck', 1) }))
    ).LastModified!;
    const later = new Date(written.getTime() + 3 * 3600_000);
    const r2 = recorder();
    const run2 = await runDigests({ ...digestDeps(env), heads: only('lag-stuck'), metric: r2.sink, now: () => later });
    assert.equal(run2.refused.length, 1);
    assert.equal(run2.lagSeconds, 3 * 3600);
    assert.deepEqual(r2.emitted, [{ name: 'AuditLag', unit: 'Seconds', value: 3 * 3600, dimensions: {} }]);
  });
});

describe('TimeToIsolation (tombstone isolate core)', () => {
  it("from the trigger event's own time to the quarantine group applied; a dry run or no trigger time emits none", async () => {
    const ec2 = new EC2Client(cfg);
    const vpc = (await ec2.send(new CreateVpcCommand({ CidrBlock: '10.9.0.0/16' }))).Vpc!.VpcId!;
    const subnet = (await ec2.send(new CreateSubnetCommand({ VpcId: vpc, CidrBlock: '10.9.1.0/24' }))).Subnet!
      .SubnetId!;
    const group = async (name: string) =>
      (await ec2.send(new CreateSecurityGroupCommand({ GroupName: name, Description: name, VpcId: vpc }))).GroupId!;
    const [quarantine, transition, session] = [await group('q'), await group('t'), await group('s')];
    const launch = async (sessionId: string) =>
      (
        await ec2.send(
          new RunInstancesCommand({
            ImageId: MOTO_AMI,
            MinCount: 1,
            MaxCount: 1,
            SubnetId: subnet,
            SecurityGroupIds: [session],
            TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: Tags.SessionId, Value: sessionId }] }],
          }),
        )
      ).Instances![0]!.InstanceId!;
    const config = { quarantineGroupId: quarantine, transitionGroupId: transition };
    const run = async (sessionId: string, request: Record<string, unknown>, now: Date) => {
      const r = recorder();
      await launch(sessionId);
      const target = await validateTombstone(
        ec2,
        {
          request: { sessionId, reason: 'test', source: 'evt-1', requestedBy: 'automatic:own', ...request },
          executionId: `arn:aws:states:us-east-1:123456789012:execution:aidops-tombstone:${sessionId}`,
          executionName: sessionId,
        },
        config,
      );
      await isolate(
        { ec2, config, now: () => now, metric: r.sink },
        { target, recheck: false, stateMachine: 'aidops-tombstone' },
      );
      return r.emitted;
    };
    const applied = new Date('2026-11-30T01:00:12.500Z');
    assert.deepEqual(await run('ses-tti-1', { triggeredAt: '2026-11-30T01:00:00Z' }, applied), [
      { name: 'TimeToIsolation', unit: 'Seconds', value: 12.5, dimensions: {} },
    ]);
    assert.deepEqual(await run('ses-tti-2', { triggeredAt: '2026-11-30T01:00:00Z', dryRun: true }, applied), []);
    assert.deepEqual(await run('ses-tti-3', {}, applied), []);
    ec2.destroy();
  });
});

describe('TimeToEvidence (tombstone evidence core)', () => {
  it("from the trigger event's own time to the packet sealed, once (a packet already there is not counted again)", async () => {
    const ec2 = new EC2Client(cfg);
    const sfn = new SFNClient(cfg);
    const env = await setupAuditEnv(moto.endpoint, { mode: 'GOVERNANCE' });
    const machine = await sfn.send(
      new CreateStateMachineCommand({
        name: 'aidops-tombstone',
        definition: JSON.stringify({ StartAt: 'P', States: { P: { Type: 'Pass', End: true } } }),
        roleArn: 'arn:aws:iam::123456789012:role/sfn',
      }),
    );
    const exec = await sfn.send(
      new StartExecutionCommand({ stateMachineArn: machine.stateMachineArn!, name: 'ses-tte-1' }),
    );
    const vpc = (await ec2.send(new CreateVpcCommand({ CidrBlock: '10.7.0.0/16' }))).Vpc!.VpcId!;
    const subnet = (await ec2.send(new CreateSubnetCommand({ VpcId: vpc, CidrBlock: '10.7.1.0/24' }))).Subnet!
      .SubnetId!;
    await ec2.send(
      new RunInstancesCommand({
        ImageId: MOTO_AMI,
        MinCount: 1,
        MaxCount: 1,
        SubnetId: subnet,
        TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: Tags.SessionId, Value: 'ses-tte-1' }] }],
      }),
    );
    const config = { quarantineGroupId: 'sg-none', transitionGroupId: 'sg-none' };
    const target = await validateTombstone(
      ec2,
      {
        request: {
          sessionId: 'ses-tte-1',
          reason: 'test',
          source: 'evt-2',
          requestedBy: 'automatic:own',
          triggeredAt: '2026-11-30T01:00:00Z',
        },
        executionId: exec.executionArn!,
        executionName: 'ses-tte-1',
      },
      config,
    );
    const stepFields = { target, stateMachine: 'aidops-tombstone' };
    const input = {
      ...stepFields,
      isolation: {
        dryRun: false,
        startedAt: '2026-11-30T01:00:05Z',
        quarantineAppliedAt: '2026-11-30T01:00:06Z',
        finishedAt: '2026-11-30T01:00:07Z',
        groupsBefore: {},
        groupsAfter: {},
        originalGroups: {},
        movedInterfaces: [],
        terminationProtection: { before: false, after: true },
        deleteOnTerminationDisabled: [],
        elasticIps: [],
        networkAcl: null,
        planned: [],
      },
      credentials: { failed: true as const, step: 'revoke', error: 'E', cause: 'c', paged: true, planned: [] },
      sessionEnd: null,
      freeze: {
        dryRun: false,
        mode: 'none' as const,
        commandId: null,
        ssmReachable: false,
        requestedAt: '2026-11-30T01:00:08Z',
        planned: [],
      },
      snapshots: { snapshotIds: [], executionArn: null, skipped: 'test' },
    };
    const r = recorder();
    const deps = {
      ec2,
      s3: env.s3,
      sfn,
      config: { bucket: env.bucket, kmsKeyId: env.sseKeyId, retentionDays: 1 },
      now: () => new Date('2026-11-30T01:02:30Z'),
      metric: r.sink,
    };
    const first = await writeEvidence(deps, input);
    const again = await writeEvidence(deps, input);
    assert.deepEqual([first.reused, again.reused], [false, true]);
    assert.deepEqual(r.emitted, [{ name: 'TimeToEvidence', unit: 'Seconds', value: 150, dimensions: {} }]);
    ec2.destroy();
    sfn.destroy();
  });
});

describe('SessionsStarted (session launch core)', () => {
  it('once per session, by tier: a retried launch that finds its instance does not count again', async () => {
    const ec2 = new EC2Client(cfg);
    const ddb = new DynamoDBClient(cfg);
    await ddb.send(
      new CreateTableCommand({
        TableName: 'metrics-launch',
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [{ AttributeName: 'sessionId', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'sessionId', KeyType: 'HASH' }],
      }),
    );
    const vpc = (await ec2.send(new CreateVpcCommand({ CidrBlock: '10.8.0.0/16' }))).Vpc!.VpcId!;
    const subnet = (await ec2.send(new CreateSubnetCommand({ VpcId: vpc, CidrBlock: '10.8.1.0/24' }))).Subnet!
      .SubnetId!;
    const sg = (await ec2.send(new CreateSecurityGroupCommand({ GroupName: 'l', Description: 'l', VpcId: vpc })))
      .GroupId!;
    const lt = (
      await ec2.send(
        new CreateLaunchTemplateCommand({
          LaunchTemplateName: 'metrics-lt',
          LaunchTemplateData: { ImageId: MOTO_AMI },
        }),
      )
    ).LaunchTemplate!.LaunchTemplateId!;
    const session: SessionContext = {
      sessionId: 'ses-metrics-1',
      executionArn: 'arn:aws:states:us-east-1:123456789012:execution:aidops-session:ses-metrics-1',
      user: 'alice@example.com',
      cohort: 'default',
      useCase: 'financial-operations',
      tier: 'high',
      profile: 'confidential-vm',
      isolation: 'sev-snp',
      evidenceType: 'sev-snp',
      instanceType: 'm6a.large',
      imageRef: MOTO_AMI,
      launchTemplateId: lt,
      securityGroupId: sg,
      ttlSeconds: 3600,
      requestedAt: '2026-01-01T00:00:00.000Z',
      expiresAt: '2026-01-01T01:00:00.000Z',
      secrets: [],
      capabilities: [],
      policyVersion: '/aidops/policy/active@3',
      memoryEvidence: false,
    };
    const r = recorder();
    const deps = {
      ec2,
      ssm: new SSMClient(cfg),
      table: new SessionTable(ddb, 'metrics-launch'),
      audit: async () => undefined,
      subnetIds: [subnet],
      metric: r.sink,
    };
    await deps.table.admit(session, { unpinned: true }, new Date());
    const first = await launch(session, deps);
    const again = await launch(session, deps);
    assert.deepEqual([first.reused, again.reused], [false, true]);
    assert.deepEqual(r.emitted, [{ name: 'SessionsStarted', unit: 'Count', value: 1, dimensions: { Tier: 'high' } }]);
    ec2.destroy();
    ddb.destroy();
  });
});

describe('SessionsActive (orphan sweeper core)', () => {
  it('a gauge per tier every sweep, 0 included', async () => {
    const ddb = new DynamoDBClient(cfg);
    await ddb.send(
      new CreateTableCommand({
        TableName: 'metrics-sessions',
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [{ AttributeName: 'sessionId', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'sessionId', KeyType: 'HASH' }],
      }),
    );
    const r = recorder();
    await sweep({
      ec2: new EC2Client(cfg),
      secrets: new SecretsManagerClient(cfg),
      table: new SessionTable(ddb, 'metrics-sessions'),
      audit: async () => undefined,
      secretPrefix: 'aidops/none/',
      executionStatus: async () => undefined,
      dryRun: true,
      graceSeconds: 600,
      metric: r.sink,
    });
    const active = named(r.emitted, 'SessionsActive');
    assert.deepEqual(
      active.map((e) => e.dimensions.Tier),
      [...TIERS],
    );
    for (const e of active) assert.equal(typeof e.value, 'number');
    ddb.destroy();
  });
});
