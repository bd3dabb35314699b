/**
 * The revocation set of a shared session role: one policy, rewritten not appended,
 * bounded by IAM's inline-policy limit, pruned once no credential it denies can
 * still be valid, safe under concurrent writers, and folding in the earlier
 * one-policy-per-instance scheme.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ConditionalCheckFailedException,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
} from '@aws-sdk/client-dynamodb';
import {
  DeleteRolePolicyCommand,
  GetRolePolicyCommand,
  type IAMClient,
  ListRolePoliciesCommand,
  PutRolePolicyCommand,
} from '@aws-sdk/client-iam';
import { RevocationCapacityError } from '../../../lambdas/remediation/errors.ts';
import {
  DEFAULT_REVOCATION_WINDOW_MS,
  INLINE_POLICY_LIMIT,
  policyChars,
  pruneRevocations,
  REVOCATION_POLICY_NAME,
  releaseInstance,
  revokeInstance,
  updateRevocations,
} from '../../../lambdas/remediation/revocations.ts';

const ROLE = 'aidops-session-shared';
const arn = (n: number) => `arn:aws:ec2:us-east-1:123456789012:instance/i-${n.toString(16).padStart(17, '0')}`;
const tick = () => new Promise((r) => setImmediate(r));

/** An in-memory incident table (GetItem, conditional PutItem) and a role's inline policies. */
function fakes(other: Record<string, string> = {}) {
  const items = new Map<string, Record<string, any>>();
  const policies = new Map<string, string>(Object.entries(other));
  const ddb = {
    async send(cmd: unknown) {
      await tick();
      if (cmd instanceof GetItemCommand) return { Item: items.get(cmd.input.Key!.pk!.S!) };
      if (cmd instanceof PutItemCommand) {
        const key = cmd.input.Item!.pk!.S!;
        const cur = items.get(key);
        const ok =
          cmd.input.ConditionExpression === 'attribute_not_exists(pk)'
            ? cur === undefined
            : cur?.version?.N === cmd.input.ExpressionAttributeValues?.[':v']?.N;
        if (!ok) throw new ConditionalCheckFailedException({ message: 'conditional', $metadata: {} });
        items.set(key, cmd.input.Item!);
        return {};
      }
      throw new Error(`unexpected ${String(cmd)}`);
    },
  } as unknown as DynamoDBClient;
  const iam = {
    async send(cmd: unknown) {
      await tick();
      if (cmd instanceof ListRolePoliciesCommand) return { PolicyNames: [...policies.keys()] };
      if (cmd instanceof GetRolePolicyCommand)
        return { PolicyDocument: encodeURIComponent(policies.get(cmd.input.PolicyName!)!) };
      if (cmd instanceof PutRolePolicyCommand) {
        policies.set(cmd.input.PolicyName!, cmd.input.PolicyDocument!);
        return {};
      }
      if (cmd instanceof DeleteRolePolicyCommand) {
        if (!policies.delete(cmd.input.PolicyName!))
          throw Object.assign(new Error('no such policy'), { name: 'NoSuchEntityException' });
        return {};
      }
      throw new Error(`unexpected ${String(cmd)}`);
    },
  } as unknown as IAMClient;
  return { deps: { ddb, iam, table: 'incidents' }, policies, items };
}

const denied = (doc: string | undefined) => {
  const statements = doc ? (JSON.parse(doc).Statement as any[]) : [];
  return {
    quarantined: (statements.find((s) => s.Sid === 'AidopsQuarantined')?.Condition.ArnEquals['ec2:SourceInstanceARN'] ??
      []) as string[],
    released: statements
      .filter((s) => s.Sid.startsWith('AidopsReleased'))
      .map((s) => [s.Condition.ArnEquals['ec2:SourceInstanceARN'], s.Condition.DateLessThan['aws:TokenIssueTime']]),
  };
};

describe('revocation set of a shared session role', () => {
  it('prunes what can deny nothing still valid, and keeps the strictest entry per instance', () => {
    const now = new Date('2026-03-01T12:00:00.000Z');
    const at = (h: number) => new Date(now.getTime() - h * 3_600_000).toISOString();
    const kept = pruneRevocations(
      [
        { instanceArn: arn(1), revokedAt: at(13) },
        { instanceArn: arn(2), revokedAt: at(2) },
        { instanceArn: arn(3), revokedAt: at(5), releasedAt: at(1) },
        { instanceArn: arn(3), revokedAt: at(3) },
        { instanceArn: arn(4), revokedAt: at(6), releasedAt: at(1) },
        { instanceArn: arn(4), revokedAt: at(4), releasedAt: at(1) },
      ],
      now,
    );
    assert.deepEqual(
      kept.map((e) => [e.instanceArn, e.revokedAt, e.releasedAt]),
      [
        [arn(2), at(2), undefined],
        [arn(3), at(3), undefined],
        [arn(4), at(4), at(1)],
      ],
    );
  });

  it('one policy, rewritten: a revocation a day for 60 days never holds more than the window allows', async () => {
    const f = fakes();
    const start = Date.parse('2026-01-01T00:00:00Z');
    for (let d = 0; d < 60; d++) {
      // 30 tombstones within two hours, every day.
      for (let k = 0; k < 30; k++) {
        const at = new Date(start + d * 86_400_000 + k * 240_000);
        await updateRevocations(f.deps, ROLE, revokeInstance(arn(d * 100 + k)), at);
      }
      assert.deepEqual([...f.policies.keys()], [REVOCATION_POLICY_NAME]);
      const doc = f.policies.get(REVOCATION_POLICY_NAME)!;
      assert.ok(policyChars(doc) <= INLINE_POLICY_LIMIT);
      assert.equal(denied(doc).quarantined.length, 30, `day ${d}: only the day's revocations are in the window`);
    }
  });

  it('refuses a revocation that would pass IAM’s limit, before changing anything', async () => {
    // The role's other inline policies already use most of the budget.
    const big = JSON.stringify({
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Action: 'x:y', Resource: 'a'.repeat(8000) }],
    });
    const f = fakes({ 'CDK-DefaultPolicy': big });
    const now = new Date('2026-01-01T00:00:00Z');
    let n = 0;
    let refused: unknown;
    for (; n < 200; n++) {
      try {
        await updateRevocations(f.deps, ROLE, revokeInstance(arn(n)), now);
      } catch (e) {
        refused = e;
        break;
      }
    }
    assert.ok(refused instanceof RevocationCapacityError, String(refused));
    assert.ok(n > 20 && n < 40, `${n} instances fit beside the other policy`);
    const total = [...f.policies.values()].reduce((t, d) => t + policyChars(d), 0);
    assert.ok(total <= INLINE_POLICY_LIMIT, `${total}`);
    assert.equal(
      denied(f.policies.get(REVOCATION_POLICY_NAME)).quarantined.length,
      n,
      'the refused write changed nothing',
    );
  });

  it('concurrent revocations on the same role: none is lost', async () => {
    const f = fakes();
    const now = new Date('2026-01-01T00:00:00Z');
    await Promise.all(
      Array.from({ length: 12 }, (_, i) => updateRevocations(f.deps, ROLE, revokeInstance(arn(i)), now)),
    );
    assert.deepEqual(
      denied(f.policies.get(REVOCATION_POLICY_NAME)).quarantined.sort(),
      Array.from({ length: 12 }, (_, i) => arn(i)).sort(),
    );
  });

  it('a release narrows the entry to tokens issued before the revocation; an empty set deletes the policy', async () => {
    const f = fakes();
    const t0 = new Date('2026-01-01T00:00:00.000Z');
    await updateRevocations(f.deps, ROLE, revokeInstance(arn(1)), t0);
    await updateRevocations(f.deps, ROLE, releaseInstance(arn(1)), new Date(t0.getTime() + 3_600_000));
    assert.deepEqual(denied(f.policies.get(REVOCATION_POLICY_NAME)), {
      quarantined: [],
      released: [[arn(1), t0.toISOString()]],
    });
    // Past the window nothing it denies can be valid: the next write leaves an empty set, and no policy.
    await updateRevocations(f.deps, ROLE, (e) => e, new Date(t0.getTime() + DEFAULT_REVOCATION_WINDOW_MS + 1));
    assert.deepEqual([...f.policies.keys()], []);
  });

  it('folds the earlier one-policy-per-instance scheme in, and deletes it', async () => {
    const before = '2026-01-01T00:00:00.000Z';
    const legacy = JSON.stringify({
      Version: '2012-10-17',
      Statement: [
        {
          Sid: 'AidopsRevokeOlderSessions',
          Effect: 'Deny',
          Action: '*',
          Resource: '*',
          Condition: { DateLessThan: { 'aws:TokenIssueTime': before }, ArnEquals: { 'ec2:SourceInstanceARN': arn(7) } },
        },
      ],
    });
    const f = fakes({ [`aidops-revoke-i-${(7).toString(16).padStart(17, '0')}`]: legacy });
    const r = await updateRevocations(f.deps, ROLE, revokeInstance(arn(8)), new Date('2026-01-01T01:00:00.000Z'));
    assert.equal(r.legacyRemoved.length, 1);
    assert.deepEqual([...f.policies.keys()], [REVOCATION_POLICY_NAME]);
    assert.deepEqual(denied(f.policies.get(REVOCATION_POLICY_NAME)), {
      quarantined: [arn(8)],
      released: [[arn(7), before]],
    });
  });
});
