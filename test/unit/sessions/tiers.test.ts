import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { instanceTypeProblem, parseSessionsConfig, parseTtl } from '../../../lambdas/sessions/tiers.ts';
import { ValidationError } from '../../../lambdas/shared/errors.ts';

function refusal(override: unknown): ValidationError {
  try {
    parseSessionsConfig(override);
  } catch (e) {
    assert.ok(e instanceof ValidationError, String(e));
    return e;
  }
  assert.fail('the config was accepted');
}

describe('tiers and profiles config (synth-time checks)', () => {
  it('defaults: high → SEV-SNP on m6a/c6a/r6a, medium → Nitro Enclave parent, low → hardened', () => {
    const c = parseSessionsConfig();
    assert.equal(c.profiles[c.tiers.high]?.isolation, 'sev-snp');
    assert.equal(c.profiles[c.tiers.medium]?.isolation, 'nitro-enclave');
    assert.equal(c.profiles[c.tiers.low]?.isolation, 'standard');
    for (const t of c.profiles[c.tiers.high]!.instanceTypes) assert.match(t, /^(m6a|c6a|r6a)\./);
    assert.equal(c.sweeper.dryRun, true, 'a new deployment only reports');
    assert.equal(c.dnsFirewall.enabled, false);
    assert.ok(c.flagCacheSeconds <= 30);
  });

  it('refuses SEV-SNP on a family that cannot run it, naming the field and the supported families', () => {
    const e = refusal({ profiles: { 'confidential-vm': { instanceTypes: ['m6a.large', 'c7i.large'] } } });
    const issue = e.issues.find((i) => i.path === 'profiles.confidential-vm.instanceTypes[1]');
    assert.ok(issue, JSON.stringify(e.issues));
    assert.match(issue.message, /c7i\.large cannot run AMD SEV-SNP.*m6a, c6a, r6a/);
  });

  it('refuses Nitro Enclave parents that are burstable or too small', () => {
    assert.match(instanceTypeProblem('nitro-enclave', 't3.xlarge') ?? '', /cannot run Nitro Enclaves/);
    assert.match(instanceTypeProblem('nitro-enclave', 'm6i.large') ?? '', /too few vCPUs/);
    assert.equal(instanceTypeProblem('nitro-enclave', 'm6g.large'), undefined, 'Graviton: 2 vCPUs suffice');
    assert.equal(instanceTypeProblem('nitro-enclave', 'c6i.xlarge'), undefined);
  });

  it('refuses a high tier mapped to a non-SEV-SNP profile, an unknown profile, and the whole internet as egress', () => {
    assert.ok(refusal({ tiers: { high: 'hardened' } }).issues.some((i) => i.path === 'tiers.high'));
    assert.ok(refusal({ tiers: { low: 'nope' } }).issues.some((i) => i.path === 'tiers.low'));
    const e = refusal({
      profiles: { hardened: { egress: [{ cidr: '0.0.0.0/0', port: 443, description: 'everything' }] } },
    });
    assert.ok(
      e.issues.some((i) => i.path.startsWith('profiles.hardened.egress[0].cidr')),
      JSON.stringify(e.issues),
    );
  });

  it('refuses evidence a profile cannot produce and a flag cache over 30 s', () => {
    assert.ok(
      refusal({ profiles: { hardened: { evidenceType: 'sev-snp' } } }).issues.some(
        (i) => i.path === 'profiles.hardened.evidenceType',
      ),
    );
    assert.ok(refusal({ flagCacheSeconds: 60 }).issues.some((i) => i.path === 'flagCacheSeconds'));
  });

  it('a context override deep-merges (objects merge, arrays replace), also as JSON text', () => {
    const c = parseSessionsConfig(
      JSON.stringify({ profiles: { hardened: { maxTtlSeconds: 7200, instanceTypes: ['c6i.large'] } } }),
    );
    assert.equal(c.profiles.hardened?.maxTtlSeconds, 7200);
    assert.deepEqual(c.profiles.hardened?.instanceTypes, ['c6i.large']);
    assert.equal(c.profiles.hardened?.isolation, 'standard', 'untouched fields keep their defaults');
    assert.ok(c.profiles['confidential-vm'], 'other profiles stay');
    assert.match(refusal('{not json').message, /not JSON/);
  });

  it('parses TTLs', () => {
    assert.equal(parseTtl('2h'), 7200);
    assert.equal(parseTtl('1h30m'), 5400);
    assert.equal(parseTtl('90s'), 90);
    assert.equal(parseTtl('1d'), 86_400);
    assert.equal(parseTtl('600'), 600);
    assert.ok(Number.isNaN(parseTtl('two hours')));
  });
});
