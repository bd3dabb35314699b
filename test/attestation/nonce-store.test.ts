import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { DynamoNonceStore, type NonceStore } from '../../lambdas/attestation/nonce-store.ts';
import { AttestationError } from '../../lambdas/attestation/reasons.ts';
import { awsClientConfig } from '../../lambdas/shared/clients.ts';
import { type MotoServer, startMoto } from '../../local/emulator/moto.ts';
import { createNonceTable, InMemoryNonceStore } from './helpers.ts';

const reason = async (p: Promise<unknown>) => {
  try {
    await p;
    return 'OK';
  } catch (e) {
    assert.ok(e instanceof AttestationError, String(e));
    return e.reason;
  }
};

function contract(
  name: string,
  make: (now: () => number) => Promise<NonceStore>,
  inspect?: (nonce: Uint8Array) => Promise<unknown>,
) {
  describe(name, () => {
    let clock = Date.parse('2026-01-01T00:00:00Z');
    const now = () => clock;
    let store: NonceStore;
    before(async () => {
      store = await make(now);
    });

    it('issue → consume once; replay is NONCE_REUSED', async () => {
      const n = await store.issue('sess-1');
      assert.equal(n.length, 32);
      await store.consume(n, 'sess-1');
      assert.equal(await reason(store.consume(n, 'sess-1')), 'NONCE_REUSED');
      if (inspect) assert.equal(((await inspect(n)) as { used: { BOOL: boolean } }).used.BOOL, true);
    });

    it('unknown nonce, another session, or expired: NONCE_MISMATCH', async () => {
      assert.equal(await reason(store.consume(Buffer.alloc(32, 9), 'sess-1')), 'NONCE_MISMATCH');
      const n = await store.issue('sess-2');
      assert.equal(await reason(store.consume(n, 'sess-3')), 'NONCE_MISMATCH');
      const e = await store.issue('sess-4', { ttlSeconds: 60 });
      clock += 61_000;
      assert.equal(await reason(store.consume(e, 'sess-4')), 'NONCE_MISMATCH');
      // The failed attempts did not consume the other session's nonce.
      await store.consume(n, 'sess-2');
    });

    it('two concurrent consumes: exactly one wins', async () => {
      const n = await store.issue('sess-5');
      const results = await Promise.all([reason(store.consume(n, 'sess-5')), reason(store.consume(n, 'sess-5'))]);
      assert.deepEqual(results.sort(), ['NONCE_REUSED', 'OK']);
    });

    it('a given nonce can be issued once', async () => {
      const n = Buffer.alloc(32, 3);
      await store.issue('sess-6', { nonce: n });
      await assert.rejects(store.issue('sess-7', { nonce: n }));
    });
  });
}

let moto: MotoServer;
let ddb: DynamoDBClient;
const TABLE = 'aidops-attest-nonces';

before(async () => {
  moto = await startMoto();
  ddb = new DynamoDBClient(awsClientConfig({ endpoint: moto.endpoint }));
  await createNonceTable(ddb, TABLE);
});
after(async () => {
  ddb?.destroy();
  await moto?.stop();
});

contract(
  'DynamoNonceStore (moto)',
  async (now) => new DynamoNonceStore(ddb, { tableName: TABLE, now }),
  async (n) =>
    (await ddb.send(new GetItemCommand({ TableName: TABLE, Key: { nonce: { S: Buffer.from(n).toString('hex') } } })))
      .Item,
);
contract('InMemoryNonceStore', async (now) => new InMemoryNonceStore(now));
