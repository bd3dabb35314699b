import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runInstancesInput } from '../../../lambdas/sessions/launch.ts';
import type { SessionContext } from '../../../lambdas/sessions/model.ts';
import { teardownReason } from '../../../lambdas/sessions/teardown.ts';
import { Tags, tagValue } from '../../../lambdas/shared/tags.ts';

const base: SessionContext = {
  sessionId: 'ses-unit-1',
  executionArn: 'arn:aws:states:us-east-1:123456789012:execution:aidops-session:ses-unit-1',
  user: 'alice@example.com',
  cohort: 'default',
  useCase: 'financial-operations',
  tier: 'high',
  profile: 'confidential-vm',
  isolation: 'sev-snp',
  evidenceType: 'sev-snp',
  instanceType: 'm6a.large',
  imageRef: 'ami-12c6146b',
  launchTemplateId: 'lt-0123456789abcdef0',
  securityGroupId: 'sg-0123456789abcdef0',
  ttlSeconds: 3600,
  requestedAt: '2026-01-01T00:00:00.000Z',
  expiresAt: '2026-01-01T01:00:00.000Z',
  secrets: [],
  capabilities: [],
  policyVersion: '/aidops/policy/active@3',
  memoryEvidence: false,
};

describe('RunInstances input', () => {
  it('high tier: SEV-SNP enabled, the session id as ClientToken, no public IP, IMDSv2 hop 1, every tag at launch', () => {
    const r = runInstancesInput(base, 'ami-12c6146b', 'subnet-1');
    assert.deepEqual(r.CpuOptions, { AmdSevSnp: 'enabled' });
    assert.equal(r.EnclaveOptions, undefined);
    assert.equal(r.ClientToken, 'ses-unit-1');
    assert.equal(r.NetworkInterfaces?.[0]?.AssociatePublicIpAddress, false);
    assert.deepEqual(r.NetworkInterfaces?.[0]?.Groups, ['sg-0123456789abcdef0']);
    assert.equal(r.MetadataOptions?.HttpTokens, 'required');
    assert.equal(r.MetadataOptions?.HttpPutResponseHopLimit, 1);
    assert.equal(r.KeyName, undefined, 'no key pair');
    assert.deepEqual(r.LaunchTemplate, { LaunchTemplateId: 'lt-0123456789abcdef0', Version: '$Latest' });
    for (const spec of r.TagSpecifications ?? []) {
      assert.equal(tagValue(spec.Tags, Tags.SessionId), 'ses-unit-1');
      assert.equal(tagValue(spec.Tags, Tags.Tier), 'high');
      assert.equal(tagValue(spec.Tags, Tags.Profile), 'confidential-vm');
      assert.equal(tagValue(spec.Tags, Tags.PolicyVersion), '/aidops/policy/active@3');
      assert.equal(tagValue(spec.Tags, Tags.ExpiresAt), '2026-01-01T01:00:00.000Z');
    }
    assert.deepEqual(
      (r.TagSpecifications ?? []).map((t) => t.ResourceType),
      ['instance', 'volume', 'network-interface'],
    );
  });

  it('medium tier: enclave enabled and no SEV-SNP; low tier: neither', () => {
    const m = runInstancesInput({ ...base, tier: 'medium', isolation: 'nitro-enclave' }, 'ami-1', 'subnet-1');
    assert.deepEqual(m.EnclaveOptions, { Enabled: true });
    assert.equal(m.CpuOptions, undefined);
    const l = runInstancesInput({ ...base, tier: 'low', isolation: 'standard' }, 'ami-1', 'subnet-1');
    assert.equal(l.EnclaveOptions, undefined);
    assert.equal(l.CpuOptions, undefined);
  });
});

describe('teardown reasons', () => {
  it('says why, from the path the workflow took', () => {
    assert.equal(teardownReason({ outcome: 'ended', stage: 'ttl' }), 'ttl expired');
    assert.equal(
      teardownReason({ outcome: 'ended', stage: 'end-signal', signal: { endedBy: 'alice', reason: 'done' } }),
      'ended by alice: done',
    );
    assert.equal(
      teardownReason({
        outcome: 'failed',
        stage: 'attestation',
        failure: { Error: 'AttestationFailed', Cause: 'NONCE_MISMATCH: report_data differs' },
      }),
      'attestation: AttestationFailed: NONCE_MISMATCH: report_data differs',
    );
    assert.equal(
      teardownReason({
        outcome: 'failed',
        stage: 'launch',
        failure: {
          Error: 'TransientError',
          Cause: JSON.stringify({ errorType: 'TransientError', errorMessage: 'throttled' }),
        },
      }),
      'launch: TransientError: throttled',
      'Lambda causes (JSON) are unwrapped',
    );
  });
});
