/**
 * The session workflow, synthesized and run against moto with the real handlers.
 * Attestation is answered through the shipped path: the guest's signed request to
 * the guests' door (the private REST API, served by the local API Gateway stand-in
 * as synthesized), whose handler runs the attestation step
 * (lambdas/attestation/step.ts) on REAL documents from test/fixtures; the test
 * issues each document's own nonce to the session and sets the door's verification
 * clock inside the document's certificate window. The profiles pin the documents'
 * real measurements. Each document names the instance it was made on (module_id);
 * moto cannot launch that instance, so an accept-path session's record is pointed
 * at it (as if RunInstances had returned it) and the guest signs as that instance,
 * and a session left on its emulated instance shows the refusal.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DescribeInstancesCommand, DescribeVolumesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { EventBridgeClient, PutRuleCommand, PutTargetsCommand } from '@aws-sdk/client-eventbridge';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { DescribeSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SendTaskSuccessCommand, SFNClient } from '@aws-sdk/client-sfn';
import { CreateQueueCommand, GetQueueAttributesCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { SSMClient } from '@aws-sdk/client-ssm';
import { DynamoNonceStore } from '../../lambdas/attestation/nonce-store.ts';
import { attestationClock } from '../../lambdas/doors/guest/handlers/deps.ts';
import { SsmFlags } from '../../lambdas/sessions/flags.ts';
import { ec2 as handlerEc2 } from '../../lambdas/sessions/handlers/deps.ts';
import { SessionTable } from '../../lambdas/sessions/table.ts';
import { names } from '../../lambdas/shared/names.ts';
import { Tags, tagValue } from '../../lambdas/shared/tags.ts';
import type { LocalRuntime } from '../../local/runtime.ts';
import { installStandins } from '../../local/standins/index.ts';
import { runCli } from '../helpers/cli.ts';
import { guest, guestCredentials } from '../helpers/guest-door.ts';
import { useRuntime } from '../helpers/runtime.ts';
import { file, load, PINNED, PINNED_PROFILES } from '../unit/attestation/vectors.ts';

const MACHINE = names().sessionMachine;
const PREFIX = names().sessionSecretPrefix;
const BUS = names().auditBus;

/** Real documents: each one's nonce and a time inside its certificate window. */
const NITRO_ENCLAVE = {
  doc: load('nitro-enclave/confidior-2026-07-07-us-east-2.hex'),
  nonce: Buffer.from('3ee1db6c2f6434596c5e27a66d9fb666be958dc628268f3a221ebb3ac603f7e9', 'hex'),
  at: new Date(1783456414261 + 5_000),
};
const NITRO_TPM = {
  doc: load('nitrotpm/vaportpm-2026-02-03-us-east-1.cbor'),
  nonce: Buffer.from('230af3f7c0ec43ccf99a4cab47ac61469a36ea74b1e79740fdf8ccfc8f56161a', 'hex'),
  at: new Date(1770113522437 + 5_000),
};

export const TEST_SESSIONS_CONFIG = {
  minTtlSeconds: 1,
  flagCacheSeconds: 0,
  attestation: { timeoutSeconds: 30, heartbeatSeconds: 10 },
  profiles: {
    ...PINNED_PROFILES,
    'enclave-parent': { ...PINNED_PROFILES['enclave-parent'], secrets: ['aidops/shared/docs-token'] },
  },
};

describe('session workflow (synthesized ASL against moto)', () => {
  const rt = useRuntime({ apiThrottleScope: 'method', config: { sessions: TEST_SESSIONS_CONFIG } as never });
  const cfg = () => rt().clientConfig();
  const sessions = () => new SessionTable(new DynamoDBClient(cfg()), names().sessionTable);
  const nonceTable = () => rt().ref('AttestationNonces');

  // Every RunInstances the launch handler sends, as sent (moto drops CpuOptions/EnclaveOptions).
  const runCalls: { sessionId: string; input: Record<string, any> }[] = [];
  let recording = false;
  function recordRunInstances(): void {
    if (recording) return;
    recording = true;
    handlerEc2().middlewareStack.add(
      (next, ctx) => async (args) => {
        if (ctx.commandName === 'RunInstancesCommand') {
          const input = args.input as Record<string, any>;
          runCalls.push({ sessionId: input.ClientToken, input: structuredClone(input) });
        }
        return next(args);
      },
      { step: 'initialize', name: 'recordRunInstances' },
    );
  }

  // Audit events: a rule on the audit bus copies them to a queue the test reads.
  let auditQueue = '';
  const audited: any[] = [];
  async function setUpAuditCapture(): Promise<void> {
    if (auditQueue) return;
    const sqs = new SQSClient(cfg());
    auditQueue = (await sqs.send(new CreateQueueCommand({ QueueName: 'session-test-audit' }))).QueueUrl!;
    const arn = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: auditQueue, AttributeNames: ['QueueArn'] })))
      .Attributes!.QueueArn!;
    const eb = new EventBridgeClient(cfg());
    await eb.send(
      new PutRuleCommand({ Name: 'session-test-audit', EventBusName: BUS, EventPattern: '{"source":["aidops"]}' }),
    );
    await eb.send(
      new PutTargetsCommand({ Rule: 'session-test-audit', EventBusName: BUS, Targets: [{ Id: 'q', Arn: arn }] }),
    );
  }
  async function auditOf(sessionId: string): Promise<any[]> {
    const sqs = new SQSClient(cfg());
    for (;;) {
      const r = await sqs.send(new ReceiveMessageCommand({ QueueUrl: auditQueue, MaxNumberOfMessages: 10 }));
      if (!r.Messages?.length) break;
      for (const m of r.Messages) audited.push(JSON.parse(m.Body!).detail);
    }
    return audited.filter((e) => e.sessionId === sessionId);
  }

  async function instancesOf(sessionId: string) {
    const r = await new EC2Client(cfg()).send(
      new DescribeInstancesCommand({ Filters: [{ Name: `tag:${Tags.SessionId}`, Values: [sessionId] }] }),
    );
    return (r.Reservations ?? []).flatMap((x) => x.Instances ?? []);
  }

  /**
   * The guest's attestation request through the door, signed as `instanceId` (the session's
   * instance), with the door's verification clock at `at`. Answers the door's JSON.
   */
  async function attestThroughDoor(instanceId: string, at: Date, body: Record<string, unknown>): Promise<any> {
    const me = guest(rt(), await guestCredentials(rt(), instanceId));
    attestationClock.now = () => at;
    try {
      const res = await me.post('evidence', body);
      assert.equal(res.status, 200, res.text);
      return res.json();
    } finally {
      attestationClock.now = () => new Date();
    }
  }

  /** Issues the document's own nonce to the session, as of the document's time. */
  async function issueDocumentNonce(sessionId: string, nonce: Buffer, at: Date): Promise<void> {
    await new DynamoNonceStore(new DynamoDBClient(cfg()), { tableName: nonceTable(), now: () => at.getTime() }).issue(
      sessionId,
      { nonce },
    );
  }

  const cli = (...argv: string[]) => runCli(argv, { AIDOPS_USER: 'alice' });

  /** Records `instanceId` as the session's instance: the one its real document was made on (moto cannot launch it). */
  const runsOn = (sessionId: string, instanceId: string) => sessions().update(sessionId, { instanceId });

  /**
   * Waits until the session's task parks its token AND its handler has stored that token in the
   * session table (the guest and the CLI find it there; the two happen a moment apart).
   */
  const waitFor = async (r: LocalRuntime, executionName: string, state: string, sessionId = executionName) => {
    const parked = await r.sfn.waitForPending(
      (p) => p.stateName === state && p.executionArn.endsWith(`:${executionName}`),
      20_000,
    );
    const field = state === 'Wait for attestation' ? 'attestToken' : 'endToken';
    for (let i = 0; i < 200; i++) {
      const item = (await sessions().get(sessionId)) as Record<string, unknown> | undefined;
      if (item?.[field] === parked.token) return parked;
      await new Promise((res) => setTimeout(res, 25));
    }
    throw new Error(`${sessionId}: ${field} never reached the session table`);
  };

  it('medium: request → active (real Nitro Enclave document) → end → teardown, enclave requested at the call', async () => {
    recordRunInstances();
    await setUpAuditCapture();
    const sm = new SecretsManagerClient(cfg());
    const { CreateSecretCommand } = await import('@aws-sdk/client-secrets-manager');
    await sm.send(new CreateSecretCommand({ Name: 'aidops/shared/docs-token', SecretString: 'tok-internal-docs' }));
    const sid = 'ses-med-1';
    const started = await cli(
      'session',
      'start',
      '--user',
      'alice@example.com',
      '--use-case',
      'document-authoring',
      '--ttl',
      '2h',
      '--session-id',
      sid,
      '--endpoint',
      rt().endpoint,
      '--json',
    );
    assert.equal(started.code, 0, started.err);
    const exec = rt().sfn.executions.get(JSON.parse(started.out).executionArn)!;
    await waitFor(rt(), sid, 'Wait for attestation');

    const call = runCalls.find((c) => c.sessionId === sid);
    assert.deepEqual(call?.input.EnclaveOptions, { Enabled: true }, 'RunInstances asked for an enclave');
    assert.equal(call?.input.CpuOptions, undefined);
    const [inst] = await instancesOf(sid);
    assert.equal(tagValue(inst?.Tags, Tags.Tier), 'medium');
    assert.equal(tagValue(inst?.Tags, Tags.Profile), 'enclave-parent');
    assert.ok(tagValue(inst?.Tags, Tags.ExpiresAt));
    assert.ok(tagValue(inst?.Tags, Tags.PolicyVersion));
    assert.equal(inst?.PublicIpAddress, undefined);

    await runsOn(sid, PINNED.enclave.instanceId);
    // The guest asks the door for a nonce (what a live guest puts in its document); a recorded
    // document carries its own, which the test issues to the session as of the document's time.
    const asked = await guest(rt(), await guestCredentials(rt(), PINNED.enclave.instanceId)).post('nonce');
    assert.equal(asked.status, 200, asked.text);
    assert.match((asked.json() as any).nonce, /^[0-9a-f]{64}$/);
    await issueDocumentNonce(sid, NITRO_ENCLAVE.nonce, NITRO_ENCLAVE.at);
    const r = await attestThroughDoor(PINNED.enclave.instanceId, NITRO_ENCLAVE.at, {
      evidenceType: 'nitro-enclave',
      evidence: NITRO_ENCLAVE.doc.toString('base64'),
    });
    assert.equal(r.verdict, 'verified', JSON.stringify(r));
    assert.equal(r.sessionId, sid);
    assert.ok(r.sealedSecrets, 'the session’s secrets, released');
    assert.ok(!JSON.stringify(r.sealedSecrets).includes('tok-internal-docs'), 'sealed to the attested key');

    await waitFor(rt(), sid, 'Active: wait for end or TTL');
    assert.equal((await sessions().get(sid))?.status, 'active');
    const listed = await cli('session', 'list', '--endpoint', rt().endpoint, '--json');
    assert.ok(JSON.parse(listed.out).some((s: any) => s.sessionId === sid && s.status === 'active'));

    const ended = await cli('session', 'end', sid, '--reason', 'report written', '--endpoint', rt().endpoint);
    assert.equal(ended.code, 0, ended.err);
    const fin = await exec.done;
    assert.equal(fin.status, 'SUCCEEDED', `${fin.error}: ${fin.cause}`);
    const item = await sessions().get(sid);
    assert.equal(item?.status, 'ended');
    assert.equal(item?.reason, 'ended by alice: report written');
    assert.equal(item?.endToken, undefined, 'callback tokens are cleared');
    assert.equal((await instancesOf(sid))[0]?.State?.Name, 'terminated');
    await assert.rejects(sm.send(new DescribeSecretCommand({ SecretId: `${PREFIX}${sid}` })), /ResourceNotFound/);

    const events = await auditOf(sid);
    const kinds = events.map((e) => `${e.kind}:${e.detail.type ?? e.detail.step ?? e.detail.action}`);
    for (const k of [
      'decision:session.admit',
      'workflow:issue nonce',
      'workflow:launch',
      'security:attestation_result',
      'workflow:teardown',
    ])
      assert.ok(kinds.includes(k), `${k} audited; got ${kinds.join(', ')}`);
    const attest = events.find((e) => e.detail.type === 'attestation_result');
    assert.equal(attest.detail.verdict, 'pass');
    assert.equal(attest.detail.measurements.moduleId, 'i-01067cfa560f27f3d-enc019f3e452b6927d3');
    assert.equal(attest.detail.unpinned, undefined, 'a pinned profile: nothing to flag');
    assert.ok(events.some((e) => e.detail.type === 'lifecycle' && e.detail.state === 'stopped'));
    const shown = await cli('session', 'show', sid, '--endpoint', rt().endpoint, '--json');
    assert.equal(JSON.parse(shown.out).execution, 'SUCCEEDED');
  });

  it('low: a real NitroTPM document makes the session active; the TTL ends it and tears it down', async () => {
    const sid = 'ses-low-ttl';
    const exec = rt().sfn.start(MACHINE, { user: 'bob', useCase: 'document-summary', ttl: '3s' }, sid);
    await waitFor(rt(), sid, 'Wait for attestation');
    assert.equal(runCalls.find((c) => c.sessionId === sid)?.input.EnclaveOptions, undefined);
    await issueDocumentNonce(sid, NITRO_TPM.nonce, NITRO_TPM.at);
    await runsOn(sid, PINNED.tpm.instanceId);
    const r = await attestThroughDoor(PINNED.tpm.instanceId, NITRO_TPM.at, {
      evidenceType: 'nitrotpm',
      evidence: NITRO_TPM.doc.toString('base64'),
    });
    assert.equal(r.verdict, 'verified', JSON.stringify(r));
    const fin = await exec.done;
    assert.equal(fin.status, 'SUCCEEDED', `${fin.error}: ${fin.cause}`);
    assert.ok(
      fin.timeline.some((e) => e.state === 'TTL reached'),
      'ended by the TTL',
    );
    assert.equal((await sessions().get(sid))?.reason, 'ttl expired');
    assert.equal((await instancesOf(sid))[0]?.State?.Name, 'terminated');
  });

  it('medium: a genuine enclave document (the pinned image, a valid chain and signature) made on another instance releases nothing: INSTANCE_MISMATCH', async () => {
    const sid = 'ses-med-other-instance';
    const exec = rt().sfn.start(MACHINE, { user: 'mallory', useCase: 'document-authoring', ttl: '1h' }, sid);
    await waitFor(rt(), sid, 'Wait for attestation');
    const item = await sessions().get(sid);
    assert.notEqual(item?.instanceId, PINNED.enclave.instanceId, 'the session runs on its own (emulated) instance');
    const r = await attestThroughDoor(item!.instanceId!, NITRO_ENCLAVE.at, {
      evidenceType: 'nitro-enclave',
      evidence: NITRO_ENCLAVE.doc.toString('base64'),
    });
    assert.equal(r.reason, 'INSTANCE_MISMATCH', JSON.stringify(r));
    assert.equal(r.sealedSecrets, null);
    assert.match(r.message, new RegExp(`made on i-01067cfa560f27f3d .*runs on ${item!.instanceId}`));
    const fin = await exec.done;
    assert.equal(fin.status, 'FAILED');
    assert.match(fin.cause ?? '', /AttestationFailed: INSTANCE_MISMATCH/);
    assert.equal((await instancesOf(sid))[0]?.State?.Name, 'terminated');
    const verdict = (await auditOf(sid)).find((e) => e.detail.type === 'attestation_result');
    assert.equal(verdict?.detail.verdict, 'fail');
    assert.match(verdict?.detail.reason ?? '', /^INSTANCE_MISMATCH/);
    assert.equal(verdict?.detail.measurements.moduleId, 'i-01067cfa560f27f3d-enc019f3e452b6927d3');
    assert.equal(verdict?.sandboxId, item!.instanceId, 'audited against the session instance');
  });

  it('high: SEV-SNP is requested at the call; a real SNP report not bound to the issued nonce tears the session down, reason audited', async () => {
    const sid = 'ses-high-bad';
    const exec = rt().sfn.start(MACHINE, { user: 'carol', useCase: 'financial-operations', ttl: '1h' }, sid);
    await waitFor(rt(), sid, 'Wait for attestation');
    assert.deepEqual(runCalls.find((c) => c.sessionId === sid)?.input.CpuOptions, { AmdSevSnp: 'enabled' });
    const item = await sessions().get(sid);
    assert.equal(item?.status, 'attesting');
    assert.match(item?.nonce ?? '', /^[0-9a-f]{64}$/, 'the workflow issued a nonce');
    const spki = generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey.export({ format: 'der', type: 'spki' });
    const at = new Date('2026-06-19T21:14:03Z');
    const r = await attestThroughDoor(item!.instanceId!, at, {
      evidenceType: 'sev-snp',
      evidence: file('sev-snp/reclaim-aws-us-east-2-vlek-2026.attestation.pb').toString('base64'),
      certs: { chain: file('roots/amd-milan-asvk-ark.pem').toString() },
      nonce: item!.nonce!,
      publicKey: spki.toString('base64'),
    });
    assert.equal(r.reason, 'NONCE_MISMATCH', 'genuine AMD signature, but not this session');
    const fin = await exec.done;
    assert.equal(fin.status, 'FAILED');
    assert.equal(fin.error, 'attestation');
    assert.match(fin.cause ?? '', /AttestationFailed: NONCE_MISMATCH/);
    const after = await sessions().get(sid);
    assert.equal(after?.status, 'failed');
    assert.match(after?.reason ?? '', /^attestation: AttestationFailed: NONCE_MISMATCH/);
    assert.equal((await instancesOf(sid))[0]?.State?.Name, 'terminated');
    const events = await auditOf(sid);
    const verdict = events.find((e) => e.detail.type === 'attestation_result');
    assert.equal(verdict?.detail.verdict, 'fail');
    assert.match(verdict?.detail.reason ?? '', /^NONCE_MISMATCH/);
    assert.ok(
      events.some(
        (e) => e.detail.type === 'lifecycle' && e.detail.state === 'failed' && /NONCE_MISMATCH/.test(e.detail.reason),
      ),
      'the teardown reason is audited',
    );
  });

  it('high: a genuine Nitro document is the wrong kind of evidence for a SEV-SNP session', async () => {
    const sid = 'ses-high-wrongtype';
    const exec = rt().sfn.start(MACHINE, { user: 'carol', useCase: 'personal-data', ttl: '1h' }, sid);
    await waitFor(rt(), sid, 'Wait for attestation');
    const item = await sessions().get(sid);
    const r = await attestThroughDoor(item!.instanceId!, NITRO_ENCLAVE.at, {
      evidenceType: 'nitro-enclave',
      evidence: NITRO_ENCLAVE.doc.toString('base64'),
    });
    assert.equal(r.reason, 'WRONG_EVIDENCE_TYPE');
    const fin = await exec.done;
    assert.equal(fin.status, 'FAILED');
    assert.match(fin.cause ?? '', /WRONG_EVIDENCE_TYPE/);
  });

  it('refuses a bad tier, an over-long TTL, an unknown use case and a switched-off flag, with the reason, launching nothing', async () => {
    await new SsmFlags(new SSMClient(cfg()), names().flagPrefix).set(
      'pilot',
      'tier-low',
      false,
      'test: low tier paused',
    );
    const cases: [string, Record<string, unknown>, string, RegExp][] = [
      ['ses-ref-tier', { user: 'dan', useCase: 'document-summary', tier: 'ultra' }, 'ValidationError', /tier/],
      [
        'ses-ref-ttl',
        { user: 'dan', useCase: 'financial-operations', ttl: '9h' },
        'AdmissionDeniedError',
        /ttl 9h exceeds the high tier's maximum of 4h/,
      ],
      [
        'ses-ref-usecase',
        { user: 'dan', useCase: 'crypto-mining' },
        'AdmissionDeniedError',
        /unknown use case "crypto-mining"/,
      ],
      [
        'ses-ref-flag',
        { user: 'dan', useCase: 'document-summary', cohort: 'pilot' },
        'AdmissionDeniedError',
        /low-tier sessions are switched off for cohort pilot \(flag tier-low\)/,
      ],
      [
        'ses-ref-weaker',
        { user: 'dan', useCase: 'financial-operations', tier: 'low' },
        'AdmissionDeniedError',
        /needs tier high or stronger/,
      ],
    ];
    for (const [sid, input, error, cause] of cases) {
      const ex = await rt().execute(MACHINE, input, sid);
      assert.equal(ex.status, 'FAILED', sid);
      assert.equal(ex.error, error, `${sid}: ${ex.cause}`);
      assert.match(ex.cause ?? '', cause, sid);
      assert.ok(!ex.timeline.some((e) => e.state === 'Launch instance'), `${sid}: never reached launch`);
      assert.deepEqual(await instancesOf(sid), [], `${sid}: nothing launched`);
      assert.equal(await sessions().get(sid), undefined, `${sid}: no session record`);
    }
    // The CLI reports the refusal and exits 1.
    const r = await cli(
      'session',
      'start',
      '--user',
      'dan',
      '--use-case',
      'document-summary',
      '--cohort',
      'pilot',
      '--session-id',
      'ses-ref-cli',
      '--endpoint',
      rt().endpoint,
    );
    assert.equal(r.code, 1);
    assert.match(r.err, /refused: AdmissionDeniedError: .*flag tier-low/);
    // Flipping the flag back lets the cohort in (flag cache is 0 s in this test config).
    await new SsmFlags(new SSMClient(cfg()), names().flagPrefix).unset('pilot', 'tier-low');
    const ok = rt().sfn.start(
      MACHINE,
      { user: 'dan', useCase: 'document-summary', cohort: 'pilot' },
      'ses-ref-flag-on',
    );
    await waitFor(rt(), 'ses-ref-flag-on', 'Wait for attestation');
    const end = await cli('session', 'end', 'ses-ref-flag-on', '--endpoint', rt().endpoint);
    assert.equal(end.code, 0, end.err);
    assert.equal((await ok.done).status, 'FAILED', 'ended before attestation: torn down');
    assert.equal((await sessions().get('ses-ref-flag-on'))?.status, 'failed');
    assert.equal((await instancesOf('ses-ref-flag-on'))[0]?.State?.Name, 'terminated');
  });

  it('a run killed half-way and restarted with the same session id launches no second instance', async () => {
    const sid = 'ses-restart';
    const input = { sessionId: sid, user: 'erin', useCase: 'document-summary', ttl: '1h' };
    const first = rt().sfn.start(MACHINE, input, `${sid}-a`);
    await waitFor(rt(), `${sid}-a`, 'Wait for attestation', sid);
    first.abort?.();
    assert.equal((await first.done).status, 'ABORTED');
    const [before] = await instancesOf(sid);
    assert.ok(before?.InstanceId);

    const second = rt().sfn.start(MACHINE, input, `${sid}-b`);
    await waitFor(rt(), `${sid}-b`, 'Wait for attestation', sid);
    const all = await instancesOf(sid);
    assert.equal(all.length, 1, 'still one instance');
    assert.equal(all[0]?.InstanceId, before.InstanceId);
    assert.equal(
      runCalls.filter((c) => c.sessionId === sid).length,
      1,
      'RunInstances was sent once (the restart found the instance; EC2 would also dedupe the ClientToken)',
    );
    assert.equal((await sessions().get(sid))?.executionArn?.endsWith(`:${sid}-b`), true, 'the restart took over');
    await cli('session', 'end', sid, '--endpoint', rt().endpoint);
    await second.done;
    assert.equal((await instancesOf(sid))[0]?.State?.Name, 'terminated');
    // An ended session id cannot be reused.
    const again = await rt().execute(MACHINE, input, `${sid}-c`);
    assert.equal(again.error, 'ConflictError');
    assert.match(again.cause ?? '', /single-use/);
  });

  /** Tombstones session `sid` and waits for both workflows; the session must end tombstoned, its instance kept. */
  async function tombstoneAndCheck(
    sid: string,
    exec: { done: Promise<any> },
    incident: string,
    callback: 'attestation' | 'active',
  ): Promise<void> {
    installStandins(rt());
    const [inst] = await instancesOf(sid);
    assert.ok(inst?.InstanceId);
    const volumes = (inst.BlockDeviceMappings ?? []).map((b) => b.Ebs!.VolumeId!);
    const tomb = await rt().execute(
      names().tombstoneMachine,
      { sessionId: sid, reason: 'contained during the session', source: 'evt-tomb', requestedBy: 'alice' },
      incident,
    );
    assert.equal(tomb.status, 'SUCCEEDED', `${tomb.error}: ${tomb.cause}\n${rt().formatTimeline(tomb)}`);
    const packet = (tomb.output as any).packet;
    assert.ok(packet.versionId, 'the evidence packet was written');
    const written = JSON.parse(
      await (
        await new S3Client(cfg()).send(
          new GetObjectCommand({
            Bucket: rt().ref('AuditBucketPinned'),
            Key: `evidence/${sid}/${incident}/packet.json`,
          }),
        )
      ).Body!.transformToString(),
    );
    assert.deepEqual(written.session, {
      statusBefore: callback === 'active' ? 'active' : 'attesting',
      marked: true,
      callback,
      answered: true,
    });
    // Bounded: a session workflow nobody answers would wait for its attestation timeout or its TTL.
    const fin = await Promise.race([
      exec.done,
      new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error('the session workflow did not end')), 20_000).unref(),
      ),
    ]);
    assert.equal(fin.status, 'SUCCEEDED', `${fin.error}: ${fin.cause}\n${rt().formatTimeline(fin)}`);
    assert.ok(
      fin.timeline.some((e: any) => e.state === 'Session tombstoned'),
      'the session workflow ends in "Session tombstoned"',
    );
    assert.ok(!fin.timeline.some((e: any) => e.state === 'Teardown failed'), 'never TeardownFailed');
    const item = await sessions().get(sid);
    assert.equal(item?.status, 'tombstoned');
    assert.equal(item?.tombstonedBy, incident);
    assert.equal(item?.attestToken, undefined, 'callback tokens are cleared');
    assert.equal(item?.endToken, undefined);
    // The instance and its volumes are evidence: they stay.
    const [after] = await instancesOf(sid);
    assert.equal(after?.InstanceId, inst.InstanceId);
    assert.notEqual(after?.State?.Name, 'terminated');
    const vols = await new EC2Client(cfg()).send(new DescribeVolumesCommand({ VolumeIds: volumes }));
    assert.equal(vols.Volumes?.length, volumes.length, 'every volume kept');
    // Ending it later changes nothing (it has ended).
    const end = await cli('session', 'end', sid, '--endpoint', rt().endpoint);
    assert.equal(end.code, 1);
    assert.match(end.err, /already tombstoned/);
  }

  it('a tombstone while attesting ends the session: tombstoned, its workflow SUCCEEDS, instance and volumes kept', async () => {
    const sid = 'ses-tomb-attesting';
    const exec = rt().sfn.start(MACHINE, { user: 'frank', useCase: 'document-summary', ttl: '1h' }, sid);
    await waitFor(rt(), sid, 'Wait for attestation');
    assert.equal((await sessions().get(sid))?.status, 'attesting');
    await tombstoneAndCheck(sid, exec, 'tomb-while-attesting', 'attestation');
  });

  it('a tombstone while active ends the session: tombstoned, its workflow SUCCEEDS, instance and volumes kept', async () => {
    const sid = 'ses-tomb-active';
    const exec = rt().sfn.start(MACHINE, { user: 'grace', useCase: 'document-summary', ttl: '1h' }, sid);
    const parked = await waitFor(rt(), sid, 'Wait for attestation');
    // The fixture documents' nonces are spent by the tests above (single use): answer the attestation
    // wait as the evidence function does when a document verifies.
    await new SFNClient(cfg()).send(
      new SendTaskSuccessCommand({ taskToken: parked.token, output: JSON.stringify({ verdict: 'verified' }) }),
    );
    await waitFor(rt(), sid, 'Active: wait for end or TTL');
    assert.equal((await sessions().get(sid))?.status, 'active');
    await tombstoneAndCheck(sid, exec, 'tomb-while-active', 'active');
  });
});
