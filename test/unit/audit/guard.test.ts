import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  assertDefaultRetentionChangeAllowed,
  assertRetentionChangeAllowed,
  RetentionGuardError,
} from '../../../lambdas/audit/retention-guard.ts';

const d = (days: number) => new Date(Date.UTC(2030, 0, 1) + days * 86_400_000);

describe('retention guard', () => {
  it('refuses shortening, weakening or removing COMPLIANCE retention, and reports it', () => {
    const reports: string[] = [];
    const rep = (v: { reason: string }) => reports.push(v.reason);
    const cur = { mode: 'COMPLIANCE' as const, retainUntil: d(10) };
    assert.throws(
      () => assertRetentionChangeAllowed(cur, { mode: 'COMPLIANCE', retainUntil: d(9) }, {}, rep),
      RetentionGuardError,
    );
    assert.throws(
      () => assertRetentionChangeAllowed(cur, { mode: 'GOVERNANCE', retainUntil: d(20) }, {}, rep),
      RetentionGuardError,
    );
    assert.throws(
      () => assertRetentionChangeAllowed(cur, { mode: undefined, retainUntil: undefined }, {}, rep),
      RetentionGuardError,
    );
    assert.equal(reports.length, 3);
    assert.doesNotThrow(() => assertRetentionChangeAllowed(cur, { mode: 'COMPLIANCE', retainUntil: d(11) }, {}, rep));
    assert.doesNotThrow(() =>
      assertRetentionChangeAllowed(
        { mode: 'GOVERNANCE', retainUntil: d(10) },
        { mode: 'GOVERNANCE', retainUntil: d(1) },
        {},
        rep,
      ),
    );
  });

  it('refuses lowering a bucket default COMPLIANCE retention', () => {
    const rep = () => undefined;
    assert.throws(
      () =>
        assertDefaultRetentionChangeAllowed(
          { mode: 'COMPLIANCE', days: 365 },
          { mode: 'COMPLIANCE', days: 30 },
          {},
          rep,
        ),
      RetentionGuardError,
    );
    assert.doesNotThrow(() =>
      assertDefaultRetentionChangeAllowed(
        { mode: 'COMPLIANCE', days: 365 },
        { mode: 'COMPLIANCE', days: 400 },
        {},
        rep,
      ),
    );
  });
});
