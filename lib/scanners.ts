/**
 * What the IaC scanners (cfn-lint, checkov; test/infra/scanners.test.ts) are
 * told, written one way and beside the resource, as cdk-nag acknowledgements
 * are: `skipCheck(resource, id, reason)` puts checkov's own skip metadata on the
 * resource, with the reason; `ignoreLintRule(stack, id, reason)` puts cfn-lint's
 * template-level ignore, with the reason in the template beside it.
 */
import { CfnResource, type Stack } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

interface CheckovSkip {
  readonly id: string;
  readonly comment: string;
}

function cfnOf(scope: IConstruct): CfnResource {
  const r = scope instanceof CfnResource ? scope : scope.node.defaultChild;
  if (!(r instanceof CfnResource)) throw new Error(`${scope.node.path} is not a CloudFormation resource`);
  return r;
}

/** checkov skips check `id` on this resource only, for `reason`. */
export function skipCheck(scope: IConstruct, id: string, reason: string): void {
  const r = cfnOf(scope);
  const meta = (r.getMetadata('checkov') as { skip?: CheckovSkip[] } | undefined) ?? {};
  const skip = [...(meta.skip ?? []).filter((s) => s.id !== id), { id, comment: reason }];
  r.addMetadata('checkov', { ...meta, skip });
}

/** cfn-lint ignores rule `id` in this stack's template, for `reason` (kept in the template's metadata). */
export function ignoreLintRule(stack: Stack, id: string, reason: string): void {
  const metadata = stack.templateOptions.metadata ?? {};
  const lint = (metadata['cfn-lint'] ?? { config: { ignore_checks: [] } }) as { config: { ignore_checks: string[] } };
  if (!lint.config.ignore_checks.includes(id)) lint.config.ignore_checks.push(id);
  const reasons = (metadata['aidops:cfn-lint-ignored'] ?? {}) as Record<string, string>;
  reasons[id] = reason;
  stack.templateOptions.metadata = { ...metadata, 'cfn-lint': lint, 'aidops:cfn-lint-ignored': reasons };
}
