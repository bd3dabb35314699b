/**
 * What the local runtime runs in-process instead of creating in moto: Lambda
 * functions (their real handlers), their SQS event-source mappings, and state
 * machines (the synthesized ASL, with its definition substitutions applied).
 */
import { localArn, type ProvisionerTable } from './types.ts';

export const inProcess: ProvisionerTable = {
  async 'AWS::Lambda::Function'({ out, stack, id, type, raw }) {
    out.functions.set(id, {
      stackName: stack.stackName,
      logicalId: id,
      resource: raw as unknown as Record<string, unknown>,
    });
    return { type, ref: id, attrs: { Arn: localArn('lambda', `function:${id}`) } };
  },
  async 'AWS::Lambda::EventSourceMapping'({ out, id, type, p }) {
    out.eventSources.push({
      logicalId: id,
      functionName: String(p.FunctionName),
      sourceArn: String(p.EventSourceArn),
      batchSize: Number(p.BatchSize ?? 10),
    });
    return { type, ref: id, attrs: {} };
  },
  async 'AWS::StepFunctions::StateMachine'({ out, stack, id, type, p }) {
    const name = String(p.StateMachineName ?? id);
    const arn = localArn('states', `stateMachine:${name}`);
    let def = typeof p.DefinitionString === 'string' ? JSON.parse(p.DefinitionString) : p.Definition;
    if (p.DefinitionSubstitutions) {
      let s = JSON.stringify(def);
      for (const [k, v] of Object.entries(p.DefinitionSubstitutions as Record<string, unknown>))
        s = s.split(`\${${k}}`).join(String(v));
      def = JSON.parse(s);
    }
    out.stateMachines.set(name, { stackName: stack.stackName, logicalId: id, name, arn, definition: def });
    return { type, ref: arn, attrs: { Arn: arn, Name: name } };
  },
};
