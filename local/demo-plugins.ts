/**
 * Game-day section: plugin admission with a real Sigstore bundle (a GitHub artifact
 * attestation, DSSE + SLSA v1, from test/fixtures/sigstore) through the admission
 * workflow, and the same artifact with one byte changed.
 *
 * Which trust policy decides is the deployment's (TRUST_POLICY of the verify function in
 * the synthesized app). The default policy trusts only example-org, so there the real
 * artifact is verified cryptographically and then REFUSED by policy; the section then
 * shows what admission records by calling the same admission cores with DEMO_TRUST_POLICY
 * (printed). Start the runtime with `config: { pluginTrustPolicy: JSON.stringify(DEMO_TRUST_POLICY) }`
 * and the whole admission, approval included, runs through the workflow instead.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { recordAdmission, type VerifyStagedResult, verifyStaged } from '../lambdas/plugins/admission.ts';
import { parseTrustPolicy, type TrustPolicy } from '../lambdas/plugins/policy.ts';
import { type PluginRecord, PluginRegistry } from '../lambdas/plugins/registry.ts';
import { PluginVerifier } from '../lambdas/plugins/verify.ts';
import { names } from '../lambdas/shared/names.ts';
import type { Execution } from './asl/sfn-local.ts';
import type { DemoContext, DemoSection } from './demo-section.ts';
import { DEMO_TRUST_POLICY_FILE, SIGSTORE_VECTORS } from './fixtures.ts';

const MACHINE = names().pluginAdmissionMachine;
const SIGSTORE = SIGSTORE_VECTORS;

/** A trust policy that names the demo vector's signer (GHE-style issuer) and its builder (a fixture file). */
export const DEMO_TRUST_POLICY = JSON.parse(readFileSync(DEMO_TRUST_POLICY_FILE, 'utf8')) as Record<string, unknown>;

function printRecord(out: DemoContext['out'], r: PluginRecord): void {
  const p = (r.provenance ?? {}) as Record<string, string>;
  out(`    registry   ${r.pluginId}@${r.version}: ${r.status}, ${r.digest}`);
  out(`               publisher ${r.publisher}; admitted by ${r.admittedBy}, approved by ${r.approvedBy ?? '-'}`);
  out(`               admitted ${r.admittedAt}, expires ${r.expiresAt}`);
  out(`    signer     ${String(r.signer.subjectAlternativeName)} (issuer ${String(r.signer.issuer)})`);
  out(`    provenance ${p.predicateType}; builder ${p.builderId} (SLSA L${r.slsaBuildLevel} by policy)`);
  out(`               source ${p.sourceRepository} @ ${p.sourceRef} commit ${p.sourceCommit}`);
}

function verdictLine(ex: Execution): string {
  return ex.status === 'SUCCEEDED'
    ? `ADMITTED (${(ex.output as { digest: string }).digest})`
    : `REFUSED ${ex.error} (${(ex.cause ?? '').replace(`${ex.error}: `, '')})`;
}

export const pluginDemoSection: DemoSection = {
  title: 'Plugin admission: a real Sigstore-signed artifact admitted, a tampered one refused',
  async run({ rt, out, bold }: DemoContext): Promise<void> {
    const artifactPath = path.join(SIGSTORE, 'github-attestations/custom-issuer-artifact');
    const artifact = readFileSync(artifactPath);
    const bundle = readFileSync(path.join(SIGSTORE, 'github-attestations/custom-issuer.sigstore.json'));
    const root = readFileSync(path.join(SIGSTORE, 'roots/public-good-trusted_root.json'));
    const s3 = new S3Client(rt.clientConfig());
    const bucket = rt.ref('PluginsStaging');
    const put = (Key: string, Body: Buffer) => s3.send(new PutObjectCommand({ Bucket: bucket, Key, Body }));
    await put('sigstore/trusted_root.json', root);
    const stage = async (version: string, bytes: Buffer) => {
      const key = `staging/attest-demo/${version}/artifact`;
      await put(key, bytes);
      await put(`${key}.sigstore.json`, bundle);
      return { pluginId: 'attest-demo', version, key, bundleKey: `${key}.sigstore.json`, requestedBy: 'alice' };
    };

    const deployed = parseTrustPolicy(rt.functionEnv(rt.functionName('PluginsVerifyStaged')).TRUST_POLICY ?? '{}');
    out(`artifact   custom-issuer-artifact, sha256:${createHash('sha256').update(artifact).digest('hex')}`);
    out(`bundle     GitHub artifact attestation (bundle v0.3, DSSE, SLSA v1), trusted root: Sigstore public-good`);
    out(`deployed trust policy signers: ${deployed.signers.map(signerText).join('; ')}`);

    // 1. One flipped byte: Sigstore verification fails before any policy is consulted.
    const bad = Buffer.from(artifact);
    bad[0] = (bad[0] ?? 0) ^ 0x01;
    const tampered = await rt.execute(MACHINE, await stage('1.0.0-tampered', bad), 'demo-plugin-tampered');
    out(`${bold('tampered artifact')} (one bit flipped) → ${verdictLine(tampered)}`);

    // 2. The real artifact through the workflow, under the deployed policy.
    const run = rt.sfn.start(MACHINE, await stage('1.0.0', artifact), 'demo-plugin-real');
    const waiting = new AbortController();
    const first = await Promise.race([
      run.done,
      rt.sfn.waitForPending((p) => p.executionArn === run.executionArn, 20_000, waiting.signal).catch(() => undefined),
    ]);
    waiting.abort();
    if (first && 'token' in first) {
      out(`${bold('real artifact')} verified; new publisher → parked at "${first.stateName}" for a person`);
      rt.sfn.sendTaskSuccess(first.token, { approvedBy: 'bob@example.com' });
      out('  bob@example.com approves (SendTaskSuccess with {"approvedBy": "bob@example.com"})');
    }
    const real = await run.done;
    out(`${bold('real artifact')} under the deployed policy → ${verdictLine(real)}`);
    out(rt.formatTimeline(real));
    const registry = new PluginRegistry(new DynamoDBClient(rt.clientConfig()), {
      tableName: rt.ref('PluginsRegistry'),
      cacheTtlMs: 0,
    });
    if (real.status === 'SUCCEEDED') {
      const rec = await registry.get('attest-demo', '1.0.0');
      if (rec) printRecord(out, rec);
      return;
    }

    // 3. Refused by policy: show what this deployment would record with a policy that trusts the signer.
    out('');
    out(
      `The signature, Rekor entry and digest verified; the ${bold('deployed policy')} refused the signer. An operator who`,
    );
    out('trusts this publisher redeploys with this policy (context pluginTrustPolicy):');
    out(`  ${JSON.stringify(DEMO_TRUST_POLICY)}`);
    out(
      'Here the same admission cores the workflow runs are called directly with it (same staging bucket and registry):',
    );
    const policy: TrustPolicy = parseTrustPolicy(DEMO_TRUST_POLICY);
    const deps = {
      s3,
      verifier: PluginVerifier.fromTrustedRoot(root),
      policy,
      registry,
    };
    const v: VerifyStagedResult = await verifyStaged(deps, { bucket, ...(await stage('1.0.0', artifact)) });
    out(`  verify   → ${v.verdict.toUpperCase()} ${v.reason ?? ''} ${v.message}`);
    const t2: VerifyStagedResult = await verifyStaged(deps, { bucket, ...(await stage('1.0.0-tampered', bad)) });
    out(`  tampered → ${t2.verdict.toUpperCase()} ${t2.reason}`);
    if (v.verdict !== 'admit' || !v.facts) throw new Error(`demo policy refused the demo artifact: ${v.reason}`);
    const { record } = await recordAdmission(
      { registry, policy },
      { facts: v.facts, admittedBy: 'alice', approvedBy: v.needsApproval ? 'bob@example.com' : null },
    );
    printRecord(out, record);
    out('  (called outside the workflow: no approval task and no decision event for this record)');
  },
};

function signerText(s: TrustPolicy['signers'][number]): string {
  if (s.kind === 'github-actions') return `github-actions ${s.repository} ${s.refPattern} (issuer ${s.issuer})`;
  if (s.kind === 'oidc') return `oidc ${s.issuer} ${s.subject ?? s.subjectRegex}`;
  return `key ${s.keyId}`;
}
