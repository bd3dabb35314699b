import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { instanceTypeProblem, parseSessionsConfig, parseTtl } from '../../../lambdas/sessions/tiers.ts';
import { ValidationError } from '../../../lambdas/shared/errors.ts';
import { PINNED, PINNED_PROFILES } from '../attestation/vectors.ts';

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

  it('defaults say unpinned explicitly (no session image exists yet); a pinned override keeps the policy, normalized', () => {
    const c = parseSessionsConfig();
    for (const [name, p] of Object.entries(c.profiles)) assert.equal(p.unpinned, true, name);
    const pinned = parseSessionsConfig({ profiles: PINNED_PROFILES });
    for (const p of Object.values(pinned.profiles)) assert.equal(p.unpinned, false);
    assert.deepEqual(pinned.profiles['enclave-parent']?.attestationPolicy?.enclaveImages?.[0]?.pcrs, {
      ...PINNED.enclave.policy.enclaveImages[0]!.pcrs,
    });
    assert.equal(pinned.profiles['enclave-parent']?.attestationPolicy?.allowDebug, false);
  });

  it('refuses a profile that pins nothing unless it says unpinned: true, naming the profile and what is missing', () => {
    const noPin = refusal({ profiles: { 'enclave-parent': { unpinned: false } } });
    const issue = noPin.issues.find((i) => i.path === 'profiles.enclave-parent.attestationPolicy');
    assert.ok(issue, JSON.stringify(noPin.issues));
    assert.match(issue.message, /no image is pinned \(enclaveImages\).*"unpinned": true/);
    for (const [profile, policy, missing] of [
      ['enclave-parent', { enclaveImages: [{ pcrs: { 0: 'ab'.repeat(48), 1: 'ab'.repeat(48) } }] }, /PCR2/],
      ['enclave-parent', { tpmImages: PINNED.tpm.policy.tpmImages }, /enclaveImages/],
      ['hardened', { tpmImages: [{ pcrs: { 4: 'ab'.repeat(48) } }] }, /tpmImages\[0\] does not pin PCR7/],
      ['hardened', { enclaveImages: PINNED.enclave.policy.enclaveImages }, /tpmImages/],
      ['confidential-vm', { measurements: [] }, /launch measurement/],
      ['confidential-vm', { tcbFloor: { snp: 8 } }, /launch measurement/],
    ] as const) {
      const e = refusal({ profiles: { [profile]: { unpinned: false, attestationPolicy: policy } } });
      const i = e.issues.find((x) => x.path === `profiles.${profile}.attestationPolicy`);
      assert.ok(i, `${profile}: ${JSON.stringify(e.issues)}`);
      assert.match(i.message, missing);
    }
    // Pinned and "unpinned" at once is a contradiction, not a choice.
    assert.ok(
      refusal({ profiles: { hardened: { unpinned: true, attestationPolicy: PINNED.tpm.policy } } }).issues.some(
        (i) => i.path === 'profiles.hardened.unpinned',
      ),
    );
  });

  it('checks the attestation policy at synth: an unknown key, a bad hex length, a PCR index out of range', () => {
    const pcrs = PINNED.enclave.policy.enclaveImages[0]!.pcrs;
    const bad = (attestationPolicy: unknown) =>
      refusal({ profiles: { 'enclave-parent': { unpinned: false, attestationPolicy } } });
    const typo = bad({ enclaveImage: [{ pcrs }] });
    assert.ok(
      typo.issues.some((i) => i.path === 'profiles.enclave-parent.attestationPolicy' && /enclaveImage/.test(i.message)),
      JSON.stringify(typo.issues),
    );
    const imageTypo = bad({ enclaveImages: [{ pcr: pcrs }] });
    assert.ok(
      imageTypo.issues.some((i) => /enclaveImages\[0\]/.test(i.path) && /pcr/.test(i.message)),
      JSON.stringify(imageTypo.issues),
    );
    const short = bad({ enclaveImages: [{ pcrs: { ...pcrs, 1: 'ab'.repeat(32) } }] });
    assert.ok(
      short.issues.some(
        (i) =>
          i.path === 'profiles.enclave-parent.attestationPolicy.enclaveImages[0].pcrs.1' &&
          /48 bytes of hex/.test(i.message),
      ),
      JSON.stringify(short.issues),
    );
    const index = bad({ enclaveImages: [{ pcrs: { ...pcrs, 32: 'ab'.repeat(48) } }] });
    assert.ok(
      index.issues.some((i) => /enclaveImages\[0\]\.pcrs/.test(i.path) && /PCR index 0-31/.test(i.message)),
      JSON.stringify(index.issues),
    );
    const measurement = refusal({
      profiles: { 'confidential-vm': { unpinned: false, attestationPolicy: { measurements: ['abc'] } } },
    });
    assert.ok(
      measurement.issues.some((i) => i.path === 'profiles.confidential-vm.attestationPolicy.measurements[0]'),
      JSON.stringify(measurement.issues),
    );
    // The message names the field, so a person can fix it.
    assert.match(short.message, /profiles\.enclave-parent\.attestationPolicy\.enclaveImages\[0\]\.pcrs\.1/);
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
