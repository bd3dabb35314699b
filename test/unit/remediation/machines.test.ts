/** The synthesized definitions: isolation really is the first task after validation, names read well. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Template } from 'aws-cdk-lib/assertions';
import { testApp } from '../../helpers/synth.ts';

const { stacks } = testApp();
const t = Template.fromStack(stacks.controlPlane);
function definition(name: string): any {
  const sm = Object.values(t.findResources('AWS::StepFunctions::StateMachine')).find(
    (r: any) => r.Properties.StateMachineName === name,
  ) as any;
  const parts = sm.Properties.DefinitionString['Fn::Join'][1] as unknown[];
  return JSON.parse(parts.map((p) => (typeof p === 'string' ? p : 'X')).join(''));
}

describe('remediation state machines', () => {
  it('tombstone: the first task after validation is isolation', () => {
    const d = definition('aidops-tombstone');
    const tasksAfterValidate = (start: string): string[] => {
      const seen: string[] = [];
      let cur: string | undefined = start;
      while (cur && !seen.includes(cur)) {
        seen.push(cur);
        const s: { Type: string; Default?: string; Choices?: { Next: string }[]; Next?: string } = d.States[cur];
        if (s.Type === 'Choice') cur = s.Default ?? s.Choices?.[0]?.Next;
        else cur = s.Next;
      }
      return seen.filter((n) => d.States[n].Type === 'Task');
    };
    assert.deepEqual(tasksAfterValidate(d.StartAt).slice(0, 2), [
      'Validate the request and find the instance',
      'Isolate the instance',
    ]);
    assert.equal(d.States['Validate the request and find the instance'].Next, 'Isolate the instance');
    // A failed first isolation attempt goes to the re-reading task, never to a blind retry.
    const isolate = d.States['Isolate the instance'];
    assert.equal(isolate.Retry, undefined);
    assert.equal(isolate.Catch[0].Next, 'Isolate again, re-reading the interfaces');
  });

  it('restore: waits for a task token; a rejection is caught into "keep quarantined"', () => {
    const d = definition('aidops-restore');
    const wait = d.States['Wait for approval'];
    assert.match(wait.Resource, /waitForTaskToken/);
    assert.deepEqual(wait.Catch[0].ErrorEquals, ['ApprovalRejected', 'States.Timeout']);
    assert.equal(wait.Catch[0].Next, 'Keep the session quarantined');
  });

  it('rules: own events on the audit bus, findings on the default bus, one trigger function', () => {
    const rules = Object.values(t.findResources('AWS::Events::Rule'))
      .map((r: any) => r.Properties)
      .filter((p: any) => JSON.stringify(p.Targets ?? []).includes('RemediationTrigger'));
    const sources = rules.map((r: any) => JSON.stringify(r.EventPattern.source));
    assert.deepEqual(sources.sort(), ['["aws.guardduty"]', '["aws.securityhub"]', '[{"prefix":"aidops."}]']);
  });

  it('a known-good schedule invokes the fan-out', () => {
    const sch = Object.values(t.findResources('AWS::Scheduler::Schedule')) as any[];
    assert.ok(
      sch.some(
        (s) =>
          s.Properties.ScheduleExpression === 'rate(5 minutes)' &&
          JSON.stringify(s.Properties.Target).includes('RemediationKnownGood'),
      ),
    );
  });
});
