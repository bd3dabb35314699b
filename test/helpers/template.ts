/**
 * Template assertions that parse: a state machine's definition as an object
 * (CloudFormation intrinsics inside it rendered as `<LogicalId.Attr>` / `<Ref>`),
 * and resources found by a property, never by matching stringified JSON.
 */
import type { Template } from 'aws-cdk-lib/assertions';

export type Json = any;

/** Renders an intrinsic as a placeholder that can sit inside a JSON string (`<Ref>`, `<Id.Attr>`, joins joined). */
export function placeholder(node: Json): string {
  if (node?.Ref) return `<${node.Ref}>`;
  if (node?.['Fn::GetAtt']) return `<${(node['Fn::GetAtt'] as string[]).join('.')}>`;
  if (node?.['Fn::Join'])
    return (node['Fn::Join'][1] as Json[])
      .map((p) => (typeof p === 'string' ? p : placeholder(p)))
      .join(node['Fn::Join'][0]);
  if (node?.['Fn::Select']) return `<${placeholder(node['Fn::Select'][1])}[${node['Fn::Select'][0]}]>`;
  if (node?.['Fn::Split']) return placeholder(node['Fn::Split'][1]);
  return '<intrinsic>';
}

/** Parses a `DefinitionString` (a string or an `Fn::Join`) into the ASL object. */
export function parseDefinition(definitionString: Json): Json {
  if (typeof definitionString === 'string') return JSON.parse(definitionString);
  const parts = definitionString['Fn::Join'][1] as Json[];
  return JSON.parse(parts.map((p) => (typeof p === 'string' ? p : placeholder(p))).join(''));
}

/** Every state machine of `t` by its StateMachineName (placeholders where the name is not a literal). */
export function stateMachines(t: Template): Map<string, { logicalId: string; properties: Json; definition: Json }> {
  const out = new Map<string, { logicalId: string; properties: Json; definition: Json }>();
  for (const [logicalId, r] of Object.entries(t.findResources('AWS::StepFunctions::StateMachine'))) {
    const p = (r as Json).Properties;
    const name = typeof p.StateMachineName === 'string' ? p.StateMachineName : placeholder(p.StateMachineName);
    out.set(name, { logicalId, properties: p, definition: parseDefinition(p.DefinitionString) });
  }
  return out;
}

/** The parsed definition of the state machine named `name` (its StateMachineName starts with it). */
export function definitionOf(t: Template, name: string): Json {
  for (const [n, m] of stateMachines(t)) if (n === name || n.startsWith(name)) return m.definition;
  throw new Error(`no state machine named ${name} in the template (have: ${[...stateMachines(t).keys()].join(', ')})`);
}

/** Every state of a definition, nested ones (Parallel branches, Map iterators) included, by name. */
export function allStates(definition: Json): Map<string, Json> {
  const out = new Map<string, Json>();
  const visit = (d: Json) => {
    for (const [name, s] of Object.entries(d?.States ?? {}) as [string, Json][]) {
      out.set(name, s);
      for (const b of s.Branches ?? []) visit(b);
      if (s.Iterator) visit(s.Iterator);
      if (s.ItemProcessor) visit(s.ItemProcessor);
    }
  };
  visit(definition);
  return out;
}
