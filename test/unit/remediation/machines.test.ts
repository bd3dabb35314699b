/** The synthesized definitions: isolation really is the first task after validation, names read well. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { ValidationError } from '../../../lambdas/shared/errors.ts';
import { names } from '../../../lambdas/shared/names.ts';
import { parseConfig } from '../../../lib/config.ts';
import { testApp } from '../../helpers/synth.ts';
import { allStates, definitionOf, type Json } from '../../helpers/template.ts';

const { stacks } = testApp();
const t = Template.fromStack(stacks.controlPlane);
const triggerFn = { 'Fn::GetAtt': [Match.stringLikeRegexp('^RemediationTriggersTrigger'), 'Arn'] };

describe('remediation state machines', () => {
  it('tombstone: the first task after validation is isolation', () => {
    const d = definitionOf(t, names().tombstoneMachine);
    const states = allStates(d);
    const tasksAfterValidate = (start: string): string[] => {
      const seen: string[] = [];
      let cur: string | undefined = start;
      while (cur && !seen.includes(cur)) {
        seen.push(cur);
        const s: Json = states.get(cur);
        cur = s.Type === 'Choice' ? (s.Default ?? s.Choices?.[0]?.Next) : s.Next;
      }
      return seen.filter((n) => states.get(n).Type === 'Task');
    };
    assert.deepEqual(tasksAfterValidate(d.StartAt).slice(0, 2), [
      'Validate the request and find the instance',
      'Isolate the instance',
    ]);
    assert.equal(states.get('Validate the request and find the instance').Next, 'Isolate the instance');
    // A failed first isolation attempt goes to the re-reading task, never to a blind retry.
    const isolate = states.get('Isolate the instance');
    assert.equal(isolate.Retry, undefined);
    assert.equal(isolate.Catch[0].Next, 'Isolate again, re-reading the interfaces');
  });

  it('tombstone: an isolation that did not hold (IsolationIncompleteError) is tried again, like a transient error', () => {
    const states = allStates(definitionOf(t, names().tombstoneMachine));
    const first = states.get('Isolate the instance').Catch[0].ErrorEquals as string[];
    const again = (states.get('Isolate again, re-reading the interfaces').Retry as Json[]).find((r) =>
      r.ErrorEquals.includes('TransientError'),
    );
    for (const name of ['TransientError', 'IsolationIncompleteError']) {
      assert.ok(first.includes(name), `the first attempt's Catch names ${name}`);
      assert.ok(again?.ErrorEquals.includes(name), `the second attempt's Retry names ${name}`);
    }
  });

  it('restore: waits for a task token; a rejection is caught into "keep quarantined"', () => {
    const wait = allStates(definitionOf(t, names().restoreMachine)).get('Wait for approval');
    assert.match(wait.Resource, /waitForTaskToken/);
    assert.deepEqual(wait.Catch[0].ErrorEquals, ['ApprovalRejected', 'States.Timeout']);
    assert.equal(wait.Catch[0].Next, 'Keep the session quarantined');
  });

  it('rules: own events on the audit bus, findings on the default bus, one trigger function', () => {
    const rules = Object.values(
      t.findResources('AWS::Events::Rule', {
        Properties: { Targets: Match.arrayWith([Match.objectLike({ Arn: triggerFn })]) },
      }),
    ).map((r: Json) => r.Properties);
    assert.deepEqual(
      rules
        .map((r: Json) => r.EventPattern.source)
        .sort((a: Json, b: Json) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
      [['aws.guardduty'], ['aws.securityhub'], [{ prefix: 'aidops.' }]],
    );
    assert.equal(new Set(rules.map((r: Json) => r.Targets[0].Arn['Fn::GetAtt'][0])).size, 1, 'one trigger function');
    t.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: Match.objectLike({ source: [{ prefix: 'aidops.' }] }),
      EventBusName: { Ref: Match.stringLikeRegexp('^AuditIngestBus') },
    });
    for (const source of ['aws.guardduty', 'aws.securityhub'])
      t.hasResourceProperties('AWS::Events::Rule', {
        EventPattern: Match.objectLike({ source: [source] }),
        EventBusName: 'default',
      });
  });

  it('a known-good schedule invokes the fan-out', () => {
    t.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'rate(5 minutes)',
      Target: Match.objectLike({ Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^RemediationKnownGood'), 'Arn'] } }),
    });
  });

  it('every remediation grant names the stack partition, never a literal one', () => {
    const policies = t.findResources('AWS::IAM::Policy');
    const literal = Object.entries(policies)
      .filter(([id]) => /^(Remediation|Snapshot)/.test(id))
      .flatMap(([id, p]: [string, Json]) =>
        (p.Properties.PolicyDocument.Statement as Json[]).flatMap((s) =>
          [s.Resource].flat().flatMap((r: Json) => {
            const parts = typeof r === 'string' ? [r] : (r?.['Fn::Join']?.[1] ?? []);
            return parts.filter((x: Json) => typeof x === 'string' && x.startsWith('arn:aws:')).map(() => id);
          }),
        ),
      );
    assert.deepEqual(literal, []);
  });

  it('tombstone: a failed revocation is paged and the workflow goes on to end the session and freeze', () => {
    const states = allStates(definitionOf(t, names().tombstoneMachine));
    const revoke = states.get('Revoke credentials');
    assert.equal(revoke.Next, 'End the session');
    assert.deepEqual(
      revoke.Catch.map((c: Json) => [c.ErrorEquals, c.Next]),
      [[['States.ALL'], 'Page a person: Revoke credentials failed']],
    );
    const page = states.get('Page a person: Revoke credentials failed');
    assert.equal(page.Next, 'End the session', 'goes on, never to "Tombstone failed"');
    assert.equal(page.Parameters.step, 'Revoke credentials');
    assert.equal(page.Parameters.page, true);
    assert.equal(page.Catch[0].Next, 'Go on without: Revoke credentials');
    assert.equal(states.get('Go on without: Revoke credentials').Next, 'End the session');
    assert.equal(states.get('End the session').Next, 'Freeze the instance');
    assert.equal(states.get('Page a person: End the session failed').Next, 'Freeze the instance');
  });

  it('tombstone: the packet waits for the audit trail, bounded (about a minute), then is written either way', () => {
    const states = allStates(definitionOf(t, names().tombstoneMachine));
    const wait = states.get('Wait for the audit trail');
    const behind = (wait.Retry as Json[]).find((r) => r.ErrorEquals.includes('AuditTrailBehindError'));
    let total = 0;
    for (let i = 0; i < behind.MaxAttempts; i++) total += behind.IntervalSeconds * behind.BackoffRate ** i;
    assert.ok(total >= 60 && total <= 120, `waits ${total} s in all`);
    assert.equal(wait.Next, 'Write the evidence packet under legal hold');
    assert.equal(wait.Catch[0].Next, 'Go on with the audit trail behind');
    assert.equal(states.get('Go on with the audit trail behind').Next, 'Write the evidence packet under legal hold');
    for (const before of [
      'Snapshot every volume (evidence)',
      'Skip the snapshots (dry run)',
      'Continue without snapshots',
    ])
      assert.equal(states.get(before).Next, 'Wait for the audit trail', before);
  });

  it('session: a tombstone’s answer ends the session in "Session tombstoned" (a success), keeping the instance', () => {
    const states = allStates(definitionOf(t, names().sessionMachine));
    for (const wait of ['Wait for attestation', 'Active: wait for end or TTL']) {
      const c = (states.get(wait).Catch as Json[]).find((x) => x.ErrorEquals.includes('SessionTombstonedError'));
      assert.equal(c?.Next, 'Tombstoned by remediation', wait);
    }
    const pass = states.get('Tombstoned by remediation');
    assert.equal(pass.Parameters.outcome, 'tombstoned');
    assert.equal(pass.Parameters.keepInstance, true);
    const choice = states.get('Ended normally?');
    assert.ok(
      choice.Choices.some(
        (c: Json) =>
          c.Variable === '$.torn.outcome' && c.StringEquals === 'tombstoned' && c.Next === 'Session tombstoned',
      ),
    );
    assert.equal(states.get('Session tombstoned').Type, 'Succeed');
    // A session a tombstone marked keeps its mark: the attestation wait will not park on it.
    assert.match(
      states.get('Wait for attestation').Parameters.ConditionExpression,
      /attribute_not_exists\(tombstonedBy\)/,
    );
  });

  it('rules: Security Hub findings only from trusted products; an unsuccessful tombstone releases its lock', () => {
    const [sh] = Object.values(
      t.findResources('AWS::Events::Rule', {
        Properties: { EventPattern: Match.objectLike({ source: ['aws.securityhub'] }) },
      }),
    ).map((r: Json) => r.Properties);
    const products = sh.EventPattern.detail.findings.ProductArn as Json[];
    const tails = products.map((p) => p['Fn::Join'][1].filter((x: Json) => typeof x === 'string').join(''));
    assert.deepEqual(
      tails.map((x: string) => x.replace(/^arn:.*product\//, '')),
      ['aws/securityhub', 'aws/guardduty', 'aws/inspector'],
    );
    const [release] = Object.values(
      t.findResources('AWS::Events::Rule', {
        Properties: { EventPattern: Match.objectLike({ source: ['aws.states'] }) },
      }),
    ).map((r: Json) => r.Properties);
    assert.equal(release.EventBusName, 'default');
    assert.deepEqual(release.EventPattern['detail-type'], ['Step Functions Execution Status Change']);
    assert.deepEqual(release.EventPattern.detail.status, ['FAILED', 'TIMED_OUT', 'ABORTED']);
    assert.equal(release.EventPattern.detail.stateMachineArn.length, 1);
    assert.match(release.EventPattern.detail.stateMachineArn[0].Ref, /^RemediationTombstoneMachine/);
    assert.match(release.Targets[0].Arn['Fn::GetAtt'][0], /^RemediationTriggersReleaseLock/);
  });

  it('the trusted products come from the aidops:trustedFindingProducts context key, checked at synth', () => {
    const falcon = 'arn:aws:securityhub:us-east-1::product/crowdstrike/crowdstrike-falcon';
    const custom = Template.fromStack(
      testApp({ trustedFindingProducts: `aws/guardduty, ${falcon}` } as never).stacks.controlPlane,
    );
    const [sh] = Object.values(
      custom.findResources('AWS::Events::Rule', {
        Properties: { EventPattern: Match.objectLike({ source: ['aws.securityhub'] }) },
      }),
    ).map((r: Json) => r.Properties);
    const products = sh.EventPattern.detail.findings.ProductArn as Json[];
    assert.equal(products.length, 2);
    assert.equal(products[1], falcon);
    assert.throws(() => parseConfig({ trustedFindingProducts: 'anything-goes' }), /Security Hub product ARN/);
    assert.throws(() => parseConfig({ trustedFindingProducts: '[]' }), ValidationError);
  });
});
