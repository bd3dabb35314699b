import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseAuditEvent } from '../../../lambdas/audit/schema.ts';
import { stepEvent } from '../../../lambdas/audit/step-event.ts';
import { REMEDIATION_SOURCE, stepContext } from '../../../lambdas/remediation/audit.ts';
import { knownGoodExecutionName } from '../../../lambdas/remediation/known-good.ts';
import { ApprovalDecision } from '../../../lambdas/remediation/restore/approval.ts';
import { RestoreRequest } from '../../../lambdas/remediation/restore/plan.ts';
import { retryTransient } from '../../../lambdas/remediation/retry.ts';
import { releaseInstance, renderRevocations, revokeInstance } from '../../../lambdas/remediation/revocations.ts';
import { TombstoneRequest } from '../../../lambdas/remediation/tombstone/request.ts';
import { TransientError, ValidationError } from '../../../lambdas/shared/errors.ts';

describe('remediation cores', () => {
  it('the revocation policy denies tokens issued before the revocation, for this instance only (once released)', () => {
    const now = new Date('2026-01-02T03:04:05.000Z');
    const arn = 'arn:aws:ec2:us-east-1:1:instance/i-0abc12345678';
    const entries = releaseInstance(arn)(revokeInstance(arn)([], now), new Date(now.getTime() + 60_000));
    const p = JSON.parse(renderRevocations(entries)!);
    const st = p.Statement[0];
    assert.equal(st.Effect, 'Deny');
    assert.equal(st.Action, '*');
    assert.equal(st.Condition.DateLessThan['aws:TokenIssueTime'], '2026-01-02T03:04:05.000Z');
    assert.equal(st.Condition.ArnEquals['ec2:SourceInstanceARN'], 'arn:aws:ec2:us-east-1:1:instance/i-0abc12345678');
    // While quarantined (no profile, so no new credentials), every credential of the instance is refused.
    const q = JSON.parse(renderRevocations(revokeInstance(arn)([], now))!).Statement[0];
    assert.equal(q.Effect, 'Deny');
    assert.deepEqual(q.Condition, { ArnEquals: { 'ec2:SourceInstanceARN': [arn] } });
  });

  it('tombstone requests: defaults, and every required field named', () => {
    const r = TombstoneRequest.parse({ sessionId: 'ses-1', reason: 'x', source: 'evt', requestedBy: 'alice' });
    assert.deepEqual([r.dryRun, r.held, r.isolateSubnet, r.freeze], [false, false, false, 'auto']);
    for (const bad of [
      { reason: 'x', source: 'e', requestedBy: 'a' },
      { sessionId: 'ses-1', source: 'e', requestedBy: 'a' },
      { sessionId: 'ses-1', reason: 'x', requestedBy: 'a' },
      { sessionId: 'ses-1', reason: 'x', source: 'e' },
      { sessionId: 'ses-1', reason: 'x', source: 'e', requestedBy: 'a', extra: 1 },
    ])
      assert.equal(TombstoneRequest.safeParse(bad).success, false, JSON.stringify(bad));
  });

  it('restore requests and approvals are strict', () => {
    assert.equal(
      RestoreRequest.safeParse({ sessionId: 'ses-1', requestedBy: 'a', before: 'yesterday' }).success,
      false,
    );
    assert.equal(
      RestoreRequest.safeParse({ sessionId: 'ses-1', requestedBy: 'a', snapshotId: 'vol-1' }).success,
      false,
    );
    assert.equal(ApprovalDecision.safeParse({ decision: 'release', approver: 'bob' }).success, true);
    assert.equal(ApprovalDecision.safeParse({ decision: 'yolo', approver: 'bob' }).success, false);
  });

  it('every step event is a valid audit event, from aidops.remediation', () => {
    const e = stepEvent(
      stepContext(
        {
          executionId: 'arn:aws:states:us-east-1:1:execution:aidops-tombstone:x',
          sessionId: 'ses-1',
          request: { requestedBy: 'automatic:own' },
        },
        'aidops-tombstone',
      ),
      'Isolate the instance',
      'succeeded',
      { durationMs: 12 },
    );
    assert.deepEqual(parseAuditEvent(e), e);
    assert.equal(e.user?.type, 'service');
    assert.equal(e.source, REMEDIATION_SOURCE);
    assert.equal(e.detail.stateMachine, 'aidops-tombstone');
  });

  it('retryTransient retries only transient errors, a bounded number of times', async () => {
    let n = 0;
    const sleep = async () => undefined;
    assert.equal(
      await retryTransient(async () => (++n < 3 ? Promise.reject(new TransientError('throttled')) : 'ok'), 5, 1, sleep),
      'ok',
    );
    assert.equal(n, 3);
    n = 0;
    await assert.rejects(
      retryTransient(
        async () => {
          n++;
          throw new ValidationError('bad');
        },
        5,
        1,
        sleep,
      ),
      ValidationError,
    );
    assert.equal(n, 1);
    n = 0;
    await assert.rejects(
      retryTransient(
        async () => {
          n++;
          throw new TransientError('x');
        },
        4,
        1,
        sleep,
      ),
      TransientError,
    );
    assert.equal(n, 4);
  });

  it('known-good names: one per session per interval bucket', () => {
    assert.equal(knownGoodExecutionName('ses-1', 42), 'kg-ses-1-42');
    assert.match(knownGoodExecutionName('s'.repeat(64), 9_999_999), /^[A-Za-z0-9_-]{1,80}$/);
  });
});
