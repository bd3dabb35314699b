/**
 * The decide handler as Lambda will run it: bundled by esbuild with the options
 * AidopsFunction uses (imported from the construct), cedar-wasm left as a node
 * module, the policy bundle file next to it. Then invoked, with both engines,
 * reading the session, the flags and the registry from moto.
 */
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { build } from 'esbuild';
import { packBundle } from '../../../lambdas/policy/source.ts';
import { esbuildOptions } from '../../../lib/constructs/function.ts';
import { POLICY_BUNDLE_FILE, POLICY_NODE_MODULES } from '../../../lib/constructs/policy.ts';
import { type MotoServer, startMoto } from '../../../local/emulator/moto.ts';
import { localContext } from '../../../local/lambda-context.ts';
import { createStateTables, putSession, TABLES } from '../../helpers/policy-state.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
// Inside the project so the left-out node modules resolve as they would from the asset's node_modules.
const OUT = path.join(ROOT, '.tmp', `policy-bundle-test-${process.pid}`);
let moto: MotoServer | undefined;
before(async () => {
  moto = await startMoto();
  // The bundled handler makes its clients at import: point them at moto first.
  Object.assign(process.env, {
    AWS_ENDPOINT_URL: moto.endpoint,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing',
    SESSION_TABLE: TABLES.sessions,
    REGISTRY_TABLE: TABLES.registry,
    FLAG_PREFIX: '/aidops/flags',
  });
  const ddb = new DynamoDBClient({ endpoint: moto.endpoint, region: 'us-east-1' });
  await createStateTables(ddb);
  await putSession(ddb, { sessionId: 'sess-bundle' });
  ddb.destroy();
});
after(async () => {
  rmSync(OUT, { recursive: true, force: true });
  await moto?.stop();
});

describe('decide handler bundle', () => {
  it('bundles, ships what it needs and decides with both engines', async () => {
    mkdirSync(OUT, { recursive: true });
    const r = await build({
      ...esbuildOptions({ nodeModules: POLICY_NODE_MODULES }),
      entryPoints: [path.join(ROOT, 'lambdas/policy/handlers/decide.ts')],
      outfile: path.join(OUT, 'index.mjs'),
      metafile: true,
      logLevel: 'silent',
    });
    const inputs = Object.keys(r.metafile.inputs);
    assert.ok(
      inputs.some((i) => i.includes('@open-policy-agent/opa-wasm')),
      'opa-wasm is bundled',
    );
    assert.ok(!inputs.some((i) => i.includes('@cedar-policy/cedar-wasm')), 'cedar-wasm stays a node module');
    writeFileSync(path.join(OUT, POLICY_BUNDLE_FILE), JSON.stringify(packBundle(path.join(ROOT, 'policies'))));

    process.env.POLICY_BUNDLE_FILE = POLICY_BUNDLE_FILE;
    process.env.POWERTOOLS_TRACE_ENABLED = 'false';
    process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
    const request = {
      sessionId: 'sess-bundle',
      action: 'fs_write',
      resource: { kind: 'file', path: '/finance/../secrets/x' },
    };
    for (const engine of ['rego', 'cedar']) {
      process.env.POLICY_ENGINE = engine;
      // A fresh module instance per engine (the decider is module state).
      const mod = (await import(`${pathToFileURL(path.join(OUT, 'index.mjs')).href}?engine=${engine}`)) as {
        handler: (
          e: unknown,
          c: unknown,
        ) => Promise<{ decisions: { effect: string; reasons: string[]; engine: string }[] }>;
      };
      const out = await mod.handler(
        { requests: [request, { ...request, resource: { kind: 'file', path: '/x' } }] },
        localContext('decide'),
      );
      assert.deepEqual(
        out.decisions.map((d) => [d.engine, d.effect, d.reasons]),
        [
          [engine, 'deny', ['write to protected path: /secrets/x']],
          [engine, 'allow', []],
        ],
      );
    }
  });
});
