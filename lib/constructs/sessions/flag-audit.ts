/**
 * Fleet flag changes, whatever tool made them (console, AWS CLI, `aidops flags`),
 * become audit events: SSM "Parameter Store Change" events under the flag prefix
 * invoke the flag-audit function.
 */
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { Construct } from 'constructs';
import { grantAcknowledged } from '../../nag.ts';
import { AidopsFunction } from '../function.ts';
import { parameterArn } from './arns.ts';

export interface FlagAuditProps {
  readonly auditBus: events.IEventBus;
  /** SSM path prefix of the flags, e.g. `/aidops/dev/flags`. */
  readonly flagPrefix: string;
}

export interface FlagAudit {
  readonly fn: AidopsFunction;
  readonly rule: events.Rule;
}

/** Adds the function and its rule to `scope` itself, so they keep the logical ids they were deployed with. */
export function addFlagAudit(scope: Construct, props: FlagAuditProps): FlagAudit {
  const fn = new AidopsFunction(scope, 'FlagAudit', {
    entry: 'lambdas/sessions/handlers/flag-audit.ts',
    description: 'Audits every change of a fleet flag (SSM Parameter Store Change events)',
    environment: { AUDIT_BUS_NAME: props.auditBus.eventBusName, FLAG_PREFIX: props.flagPrefix },
  });
  props.auditBus.grantPutEventsTo(fn.fn);
  grantAcknowledged(
    fn.fn.role!,
    new iam.PolicyStatement({
      actions: ['ssm:GetParameter'],
      resources: [parameterArn(scope, `${props.flagPrefix}/*`)],
    }),
    'Flags are parameters under the flag prefix, one per cohort and capability.',
  );
  const rule = new events.Rule(scope, 'FlagChanges', {
    description: 'ai-desktop-ops fleet flag changes → audit',
    eventPattern: {
      source: ['aws.ssm'],
      detailType: ['Parameter Store Change'],
      detail: { name: [{ prefix: `${props.flagPrefix}/` }] },
    },
    targets: [new targets.LambdaFunction(fn.fn, { retryAttempts: 4 })],
  });
  return { fn, rule };
}
