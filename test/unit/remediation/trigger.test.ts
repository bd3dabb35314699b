import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { deriveTrigger, tombstoneExecutionName } from '../../../lambdas/remediation/trigger/event.ts';
import { Tags } from '../../../lambdas/shared/tags.ts';

const ev = (source: string, detailType: string, detail: Record<string, unknown>, id = 'evt-1') => ({
  id,
  source,
  'detail-type': detailType,
  detail,
});

describe('deriveTrigger', () => {
  it('reads the project’s own events', () => {
    const t = deriveTrigger(
      ev('aidops.policy', 'PolicyViolation', {
        sessionId: 'ses-1',
        action: 'fs_write',
        resource: 'file:/finance/x',
        reasons: ['protected'],
      }),
    );
    assert.deepEqual(
      { kind: t?.kind, sessionId: t?.sessionId, eventId: t?.eventId },
      { kind: 'own', sessionId: 'ses-1', eventId: 'evt-1' },
    );
    assert.match(t!.reason, /PolicyViolation from aidops.policy: fs_write file:\/finance\/x \(protected\)/);
    assert.equal(deriveTrigger(ev('aidops.policy', 'SomethingElse', { sessionId: 'ses-1' })), null);
    assert.equal(deriveTrigger(ev('evil.source', 'PolicyViolation', { sessionId: 'ses-1' })), null);
    assert.equal(deriveTrigger(ev('aidops.policy', 'PolicyViolation', { sessionId: 'bad id with spaces' })), null);
  });
  it('keys GuardDuty findings by finding id, so updates of one finding are one tombstone', () => {
    const gd = (id: string) =>
      ev(
        'aws.guardduty',
        'GuardDuty Finding',
        {
          id: 'f-1',
          type: 'Recon:EC2/PortProbeUnprotectedPort',
          severity: 8,
          resource: {
            instanceDetails: { instanceId: 'i-0123456789abcdef0', tags: [{ key: Tags.SessionId, value: 'ses-9' }] },
          },
        },
        id,
      );
    const a = deriveTrigger(gd('e1'))!;
    const b = deriveTrigger(gd('e2'))!;
    assert.equal(a.eventId, 'guardduty:f-1');
    assert.equal(
      tombstoneExecutionName(a.sessionId, a.eventId, false),
      tombstoneExecutionName(b.sessionId, b.eventId, false),
    );
    assert.equal(a.instanceId, 'i-0123456789abcdef0');
  });
  const GUARDDUTY_PRODUCT = 'arn:aws:securityhub:us-east-1::product/aws/guardduty';
  const shFinding = (productArn: string) =>
    ev('aws.securityhub', 'Security Hub Findings - Imported', {
      findings: [
        {
          Id: 'sh-1',
          Title: 'x',
          ProductArn: productArn,
          Resources: [{ Id: 'arn:aws:ec2:us-east-1:1:instance/i-0abc12345678', Tags: { [Tags.SessionId]: 'ses-2' } }],
        },
      ],
    });
  it('reads Security Hub resources tagged with a session', () => {
    const t = deriveTrigger(shFinding(GUARDDUTY_PRODUCT), [GUARDDUTY_PRODUCT]);
    assert.deepEqual([t?.sessionId, t?.instanceId, t?.eventId], ['ses-2', 'i-0abc12345678', 'securityhub:sh-1']);
    assert.deepEqual(t?.resourceIds, ['i-0abc12345678'], 'the resource whose real tags decide');
  });
  it('counts Security Hub findings only from trusted products (anyone may import under the account’s own)', () => {
    const imported = 'arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default';
    assert.equal(deriveTrigger(shFinding(imported), [GUARDDUTY_PRODUCT]), null);
    assert.equal(deriveTrigger(shFinding(GUARDDUTY_PRODUCT)), null, 'no product is trusted unless named');
  });
});

describe('tombstoneExecutionName', () => {
  it('is a valid, deterministic execution name that separates sessions, events and dry runs', () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_-]{2,63}$/),
        fc.string({ minLength: 1, maxLength: 300 }),
        fc.boolean(),
        (s, e, dry) => {
          const n = tombstoneExecutionName(s, e, dry);
          assert.match(n, /^[A-Za-z0-9_-]{1,80}$/);
          assert.equal(n, tombstoneExecutionName(s, e, dry));
          assert.notEqual(n, tombstoneExecutionName(s, `${e}x`, dry));
          assert.notEqual(n, tombstoneExecutionName(s, e, !dry));
        },
      ),
      { numRuns: 2000 },
    );
  });
});
