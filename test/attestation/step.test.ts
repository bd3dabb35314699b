/**
 * The attestation step core against moto (DynamoDB nonces, Secrets Manager) with
 * real documents: the test issues each document's own nonce and sets the clock
 * inside its window. The SFN callback is recorded in process (moto cannot mint
 * task tokens); the nonce and secret effects are asserted in the emulator.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DynamoNonceStore } from '../../lambdas/attestation/nonce-store.ts';
import { EC_SCHEME, RSA_SCHEME } from '../../lambdas/attestation/release.ts';
import {
  ATTESTATION_FAILED,
  runAttestationStep,
  type StepDeps,
  type TaskCallbacks,
} from '../../lambdas/attestation/step.ts';
import { awsClientConfig } from '../../lambdas/shared/clients.ts';
import { ValidationError } from '../../lambdas/shared/errors.ts';
import { type MotoServer, startMoto } from '../../local/emulator/moto.ts';
import { file, load, PINNED } from '../unit/attestation/vectors.ts';
import { createNonceTable } from './helpers.ts';

class RecordingCallbacks implements TaskCallbacks {
  readonly calls: {
    kind: 'success' | 'failure';
    token: string;
    output?: Record<string, unknown>;
    error?: string;
    cause?: string;
  }[] = [];
  async success(token: string, output: Record<string, unknown>) {
    this.calls.push({ kind: 'success', token, output });
  }
  async failure(token: string, error: string, cause: string) {
    this.calls.push({ kind: 'failure', token, error, cause });
  }
}

const TABLE = 'aidops-attest-step-nonces';
const PREFIX = 'aidops/session/';
let moto: MotoServer;
let ddb: DynamoDBClient;
let sm: SecretsManagerClient;

/** Each document's session, as the session table records it: its instance and its profile's pinned policy. */
const ENCLAVE_SESSION = { instanceId: PINNED.enclave.instanceId, policy: PINNED.enclave.policy };
const TPM_SESSION = { instanceId: PINNED.tpm.instanceId, policy: PINNED.tpm.policy };
const SNP_SESSION = { instanceId: 'i-0123456789abcdef0', policy: PINNED.snp.policy };
/** A session on an instance none of the documents was made on. */
const OTHER_INSTANCE = 'i-0aaaaaaaaaaaaaaaa';

const CONFIDIOR = {
  doc: load('nitro-enclave/confidior-2026-07-07-us-east-2.hex'),
  nonce: Buffer.from('3ee1db6c2f6434596c5e27a66d9fb666be958dc628268f3a221ebb3ac603f7e9', 'hex'),
  at: new Date(1783456414261 + 5_000),
};
const VAPOR = {
  doc: load('nitrotpm/vaportpm-2026-02-03-us-east-1.cbor'),
  nonce: Buffer.from('230af3f7c0ec43ccf99a4cab47ac61469a36ea74b1e79740fdf8ccfc8f56161a', 'hex'),
  at: new Date(1770113522437 + 5_000),
};

before(async () => {
  moto = await startMoto();
  const cfg = awsClientConfig({ endpoint: moto.endpoint });
  ddb = new DynamoDBClient(cfg);
  sm = new SecretsManagerClient(cfg);
  await createNonceTable(ddb, TABLE);
  for (const s of ['enc-1', 'tpm-1', 'snp-1', 'enc-old', 'enc-other', 'tpm-other'])
    await sm.send(
      new CreateSecretCommand({
        Name: `${PREFIX}${s}`,
        SecretString: JSON.stringify({ session: s, token: `tok-${s}` }),
      }),
    );
});
after(async () => {
  ddb?.destroy();
  sm?.destroy();
  await moto?.stop();
});

function deps(at: Date, callbacks: TaskCallbacks): StepDeps {
  return {
    nonceStore: new DynamoNonceStore(ddb, { tableName: TABLE, now: () => at.getTime() }),
    secrets: sm,
    callbacks,
    secretPrefix: PREFIX,
    now: () => at,
  };
}

async function nonceItem(n: Uint8Array) {
  return (
    await ddb.send(
      new GetItemCommand({
        TableName: TABLE,
        Key: { nonce: { S: Buffer.from(n).toString('hex') } },
        ConsistentRead: true,
      }),
    )
  ).Item;
}

describe('attestation step (moto)', () => {
  it('Nitro Enclave (RSA public_key): verifies, consumes the nonce, seals the secret, sends success; the replay fails NONCE_REUSED', async () => {
    const cb = new RecordingCallbacks();
    const d = deps(CONFIDIOR.at, cb);
    await d.nonceStore.issue('enc-1', { nonce: CONFIDIOR.nonce });
    const input = {
      taskToken: 'tt-1',
      sessionId: 'enc-1',
      evidenceType: 'nitro-enclave' as const,
      evidence: CONFIDIOR.doc.toString('base64'),
    };
    const r = await runAttestationStep(input, ENCLAVE_SESSION, d);
    assert.equal(r.verdict, 'verified', r.message);
    assert.equal(r.sealedSecrets?.scheme, RSA_SCHEME);
    assert.equal(r.sealedSecrets?.context, 'session:enc-1');
    assert.ok(!r.sealedSecrets?.ciphertext.includes('tok-enc-1'));
    assert.equal((await nonceItem(CONFIDIOR.nonce))?.used?.BOOL, true);
    assert.equal(cb.calls.length, 1);
    assert.equal(cb.calls[0]?.kind, 'success');
    assert.equal(cb.calls[0]?.token, 'tt-1');
    assert.equal(
      (cb.calls[0]?.output?.claims as Record<string, unknown> | undefined)?.moduleId,
      'i-01067cfa560f27f3d-enc019f3e452b6927d3',
    );
    assert.ok(
      !JSON.stringify(cb.calls[0]?.output).includes(r.sealedSecrets!.ciphertext),
      'secrets stay out of the task output',
    );
    assert.deepEqual(r.audit.detail.type, 'attestation_result');
    assert.equal(r.audit.kind, 'security');
    assert.equal(r.audit.detail.verdict, 'verified');

    const replay = await runAttestationStep({ ...input, taskToken: 'tt-2' }, ENCLAVE_SESSION, d);
    assert.equal(replay.verdict, 'rejected');
    assert.equal(replay.reason, 'NONCE_REUSED');
    assert.equal(replay.sealedSecrets, null);
    assert.deepEqual(cb.calls[1], {
      kind: 'failure',
      token: 'tt-2',
      error: ATTESTATION_FAILED,
      cause: `NONCE_REUSED: ${replay.message}`,
    });
    assert.equal(replay.audit.detail.reason, 'NONCE_REUSED');
  });

  it('NitroTPM (P-256 AK as public_key): the secret is sealed with ECDH-ES', async () => {
    const cb = new RecordingCallbacks();
    const d = deps(VAPOR.at, cb);
    await d.nonceStore.issue('tpm-1', { nonce: VAPOR.nonce });
    const r = await runAttestationStep(
      { taskToken: 'tt-3', sessionId: 'tpm-1', evidenceType: 'nitrotpm', evidence: VAPOR.doc.toString('base64') },
      TPM_SESSION,
      d,
    );
    assert.equal(r.verdict, 'verified', r.message);
    assert.equal(r.sealedSecrets?.scheme, EC_SCHEME);
    assert.equal((await nonceItem(VAPOR.nonce))?.used?.BOOL, true);
    assert.equal(cb.calls[0]?.kind, 'success');
  });

  it('a nonce never issued: NONCE_MISMATCH, no secret released', async () => {
    const cb = new RecordingCallbacks();
    // Same document, but the store never issued its nonce for this session.
    const r = await runAttestationStep(
      { taskToken: 'tt-4', sessionId: 'tpm-2', evidenceType: 'nitrotpm', evidence: VAPOR.doc.toString('base64') },
      TPM_SESSION,
      deps(VAPOR.at, cb),
    );
    assert.equal(r.reason, 'NONCE_MISMATCH');
    assert.equal(cb.calls[0]?.error, ATTESTATION_FAILED);
    assert.match(cb.calls[0]?.cause ?? '', /^NONCE_MISMATCH: /);
  });

  it('a document older than the default max age (300 s) is TOO_OLD and leaves the nonce unused', async () => {
    const cb = new RecordingCallbacks();
    const at = new Date(1783456414261 + 301_000);
    const d = deps(at, cb);
    const n = Buffer.from(CONFIDIOR.nonce);
    // A fresh table entry for this attempt (the first test consumed the original).
    n[31]! ^= 0xff;
    await d.nonceStore.issue('enc-old', { nonce: n });
    const r = await runAttestationStep(
      {
        taskToken: 'tt-5',
        sessionId: 'enc-old',
        evidenceType: 'nitro-enclave',
        evidence: CONFIDIOR.doc.toString('base64'),
      },
      ENCLAVE_SESSION,
      d,
    );
    assert.equal(r.reason, 'TOO_OLD');
    assert.equal((await nonceItem(n))?.used?.BOOL, false);
  });

  it('SEV-SNP: a report whose report_data is not SHA-512(nonce ‖ key) is NONCE_MISMATCH; the nonce stays unused', async () => {
    const cb = new RecordingCallbacks();
    const at = new Date('2026-06-19T21:14:03Z');
    const d = deps(at, cb);
    const nonce = await d.nonceStore.issue('snp-1');
    const { generateKeyPairSync } = await import('node:crypto');
    const spki = generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey.export({ format: 'der', type: 'spki' });
    const r = await runAttestationStep(
      {
        taskToken: 'tt-6',
        sessionId: 'snp-1',
        evidenceType: 'sev-snp',
        evidence: file('sev-snp/reclaim-aws-us-east-2-vlek-2026.attestation.pb').toString('base64'),
        certs: { chain: file('roots/amd-milan-asvk-ark.pem').toString() },
        nonce: Buffer.from(nonce).toString('hex'),
        publicKey: spki.toString('base64'),
      },
      SNP_SESSION,
      d,
    );
    assert.equal(r.reason, 'NONCE_MISMATCH');
    assert.equal(r.audit.detail.evidenceType, 'sev-snp');
    assert.equal((await nonceItem(nonce))?.used?.BOOL, false);
  });

  it('a debug enclave is rejected by the default policy before any nonce or secret is touched', async () => {
    const cb = new RecordingCallbacks();
    const doc = load('nitro-enclave/evervault-2023-09-18-us-east-1-debug.b64');
    const r = await runAttestationStep(
      { taskToken: 'tt-7', sessionId: 'dbg', evidenceType: 'nitro-enclave', evidence: doc.toString('base64') },
      { instanceId: 'i-0918f6c55e3b61d89' },
      deps(new Date(1695049410860 + 1000), cb),
    );
    assert.equal(r.reason, 'DEBUG_NOT_ALLOWED');
    assert.equal(r.audit.detail.moduleId, null);
  });

  it('a genuine enclave document (the pinned image, a valid signature) made on another instance: INSTANCE_MISMATCH, no secret', async () => {
    const cb = new RecordingCallbacks();
    const d = deps(CONFIDIOR.at, cb);
    const r = await runAttestationStep(
      {
        taskToken: 'tt-8',
        sessionId: 'enc-other',
        evidenceType: 'nitro-enclave',
        evidence: CONFIDIOR.doc.toString('base64'),
      },
      { instanceId: OTHER_INSTANCE, policy: PINNED.enclave.policy },
      d,
    );
    assert.equal(r.verdict, 'rejected');
    assert.equal(r.reason, 'INSTANCE_MISMATCH', r.message);
    assert.match(r.message, /made on i-01067cfa560f27f3d .*the session runs on i-0aaaaaaaaaaaaaaaa/);
    assert.equal(r.sealedSecrets, null);
    assert.equal(r.audit.detail.moduleId, 'i-01067cfa560f27f3d-enc019f3e452b6927d3', 'the refusal names the document');
    assert.deepEqual(
      cb.calls.map((c) => [c.kind, c.error]),
      [['failure', ATTESTATION_FAILED]],
    );
    assert.match(cb.calls[0]?.cause ?? '', /^INSTANCE_MISMATCH: /);
  });

  it('a genuine NitroTPM document made on another instance: INSTANCE_MISMATCH, nothing released', async () => {
    const cb = new RecordingCallbacks();
    const d = deps(VAPOR.at, cb);
    const r = await runAttestationStep(
      { taskToken: 'tt-9', sessionId: 'tpm-other', evidenceType: 'nitrotpm', evidence: VAPOR.doc.toString('base64') },
      { instanceId: OTHER_INSTANCE, policy: PINNED.tpm.policy },
      d,
    );
    assert.equal(r.reason, 'INSTANCE_MISMATCH', r.message);
    assert.equal(r.sealedSecrets, null);
    assert.equal(cb.calls[0]?.kind, 'failure');
  });

  it('the guest cannot bring its own policy: `allowDebug: true` in the input is refused, and the debug enclave with it', async () => {
    const cb = new RecordingCallbacks();
    const doc = load('nitro-enclave/evervault-2023-09-18-us-east-1-debug.b64');
    const input = {
      taskToken: 'tt-10',
      sessionId: 'dbg',
      evidenceType: 'nitro-enclave',
      evidence: doc.toString('base64'),
      policy: { allowDebug: true },
    };
    await assert.rejects(
      runAttestationStep(
        input as never,
        { instanceId: 'i-0918f6c55e3b61d89' },
        deps(new Date(1695049410860 + 1000), cb),
      ),
      (e: Error) => e instanceof ValidationError && /policy/.test(e.message),
    );
    assert.deepEqual(cb.calls, [], 'no callback: nothing was judged');
  });

  it('hostile bytes are a ValidationError naming the field, never a raw ZodError', async () => {
    const cb = new RecordingCallbacks();
    const base = { taskToken: 'tt-11', sessionId: 'snp-1', evidenceType: 'sev-snp' as const };
    for (const [field, input] of [
      ['evidence', { ...base, evidence: 'not base64!' }],
      ['nonce', { ...base, evidence: 'AAAA', nonce: 'xyz' }],
      ['publicKey', { ...base, evidence: 'AAAA', publicKey: '%%%%' }],
    ] as const) {
      await assert.rejects(
        runAttestationStep(input, SNP_SESSION, deps(new Date(), cb)),
        (e: Error) =>
          e instanceof ValidationError && e.issues.some((i) => i.path === field) && e.name === 'ValidationError',
        field,
      );
    }
    assert.deepEqual(cb.calls, []);
  });
});
