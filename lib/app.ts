import { type App, Tags } from 'aws-cdk-lib';
import type { AppConfig } from './config.ts';
import { nameRole } from './constructs/audit-access.ts';
import { ignoreLintRule } from './scanners.ts';
import { ControlPlaneStack } from './stacks/control-plane.ts';
import { StatefulStack } from './stacks/stateful.ts';

export interface AidopsStacks {
  readonly stateful: StatefulStack;
  readonly controlPlane: ControlPlaneStack;
}

/** Builds every stack from a checked config. bin/ reads context; tests call this directly. */
export function buildStacks(app: App, config: AppConfig): AidopsStacks {
  const env = config.account || config.region ? { account: config.account, region: config.region } : undefined;
  const prefix = `AiDesktopOps-${config.environment}`;
  const stateful = new StatefulStack(app, `${prefix}-Stateful`, {
    config,
    env,
    description: 'ai-desktop-ops: keys and audit storage (stateful)',
  });
  const controlPlane = new ControlPlaneStack(app, `${prefix}-ControlPlane`, {
    config,
    env,
    dataKey: stateful.dataKey,
    audit: stateful.audit,
    auditBucketArn: stateful.auditBucketArn,
    auditSigningKey: stateful.auditSigningKey,
    description: 'ai-desktop-ops: functions, workflows and rules (stateless)',
  });
  controlPlane.addStackDependency(stateful);
  for (const stack of [stateful, controlPlane]) {
    ignoreLintRule(
      stack,
      'W3005',
      'CDK makes each function and state machine depend on its role construct, so the role default policy exists before the first invocation; the role part of that DependsOn repeats the GetAtt, the policy part does not, and CDK emits them together.',
    );
  }
  // The audit bucket lets only this role write under evidence/ (StatefulStack.restrictWrites names it).
  nameRole(controlPlane.remediation.tombstone.functions.evidence.fn.role!, stateful.auditNames.evidenceRoleName);
  Tags.of(app).add('aidops:environment', config.environment);
  Tags.of(app).add(`aidops:managed-by`, 'ai-desktop-ops');
  return { stateful, controlPlane };
}
