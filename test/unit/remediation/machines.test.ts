/** The synthesized definitions: isolation really is the first task after validation, names read well. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { testApp } from '../../helpers/synth.ts';
import { allStates, definitionOf, type Json } from '../../helpers/template.ts';

const { stacks } = testApp();
const t = Template.fromStack(stacks.controlPlane);
const triggerFn = { 'Fn::GetAtt': [Match.stringLikeRegexp('^RemediationTriggersTrigger'), 'Arn'] };

describe('remediation state machines', () => {
  it('tombstone: the first task after validation is isolation', () => {
    const d = definitionOf(t, 'aidops-tombstone');
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
    const states = allStates(definitionOf(t, 'aidops-tombstone'));
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
    const wait = allStates(definitionOf(t, 'aidops-restore')).get('Wait for approval');
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
});
