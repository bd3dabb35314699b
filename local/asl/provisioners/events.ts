/**
 * EventBridge buses and rules. moto keeps the rules and delivers to SQS and SNS
 * targets itself; targets it cannot reach (in-process Lambda functions and state
 * machines) are registered for the local runtime: scheduled ones as schedules,
 * pattern ones as routes (../../events.ts).
 */
import { CreateEventBusCommand, PutRuleCommand, PutTargetsCommand } from '@aws-sdk/client-eventbridge';
import { localArn, type ProvisionerTable } from './types.ts';

export const events: ProvisionerTable = {
  async 'AWS::Events::EventBus'({ c, type, p }) {
    const b = await c.eb.send(new CreateEventBusCommand({ Name: String(p.Name) }));
    return { type, ref: String(p.Name), attrs: { Arn: b.EventBusArn!, Name: String(p.Name) } };
  },
  async 'AWS::Events::Rule'({ c, out, id, type, p }) {
    const name = String(p.Name ?? id).slice(0, 64);
    const bus = String(p.EventBusName ?? 'default')
      .split('/')
      .pop()!;
    await c.eb.send(
      new PutRuleCommand({
        Name: name,
        EventBusName: bus,
        EventPattern: p.EventPattern ? JSON.stringify(p.EventPattern) : undefined,
        ScheduleExpression: p.ScheduleExpression,
        State: p.State ?? 'ENABLED',
      }),
    );
    const motoTargets = [];
    for (const t of p.Targets ?? []) {
      const tArn = String(t.Arn);
      if (tArn.includes(':sqs:') || tArn.includes(':sns:')) {
        motoTargets.push({ Id: String(t.Id), Arn: tArn, Input: t.Input, InputPath: t.InputPath });
      } else if (p.ScheduleExpression) {
        out.schedules.push({
          ruleLogicalId: id,
          expression: String(p.ScheduleExpression),
          targetArn: tArn,
          input: t.Input,
        });
      } else if (p.EventPattern) {
        out.routes.push({
          ruleLogicalId: id,
          busName: bus,
          pattern: p.EventPattern,
          targetArn: tArn,
          input: t.Input,
          inputPath: t.InputPath,
          inputTransformer: t.InputTransformer,
        });
      }
    }
    if (motoTargets.length)
      await c.eb.send(new PutTargetsCommand({ Rule: name, EventBusName: bus, Targets: motoTargets }));
    return { type, ref: name, attrs: { Arn: localArn('events', `rule/${bus === 'default' ? '' : `${bus}/`}${name}`) } };
  },
};
