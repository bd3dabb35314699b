/**
 * The session state machine (`aidops-session`): the definition from
 * workflows/session.ts over the session functions, as a Standard machine with
 * the project's logging, tracing, timeout and alarm, and the acknowledgements
 * of the permissions its tasks imply.
 */
import { ArnFormat, Duration, Stack } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import type { SessionsConfig } from '../../../lambdas/sessions/tiers.ts';
import { type SessionWorkflowFunctions, sessionDefinition } from '../../../workflows/session.ts';
import { acknowledge, nagResource } from '../../nag.ts';
import { namesOf } from '../../names.ts';
import { AidopsStateMachine, acknowledgeInvokeVersions } from '../workflow.ts';

export interface SessionWorkflowProps {
  readonly functions: SessionWorkflowFunctions;
  readonly table: dynamodb.ITable;
  readonly config: SessionsConfig;
  readonly alarmTopic?: sns.ITopic;
  /** Started (`.sync`) on an attestation failure when `config.onAttestationFailure` is `tombstone`. @default the environment's tombstone machine */
  readonly tombstoneMachineName?: string;
}

export class SessionWorkflow extends Construct {
  readonly machine: AidopsStateMachine;

  constructor(scope: Construct, id: string, props: SessionWorkflowProps) {
    super(scope, id);
    const cfg = props.config;
    const attestationTimeout = Duration.seconds(cfg.attestation.timeoutSeconds);
    const tombstoneMachineName = props.tombstoneMachineName ?? namesOf(this).tombstoneMachine;
    const definition = sessionDefinition(this, {
      functions: props.functions,
      table: props.table,
      attestationTimeout,
      attestationHeartbeat: Duration.seconds(cfg.attestation.heartbeatSeconds),
      maxRunningPolls: cfg.maxRunningPolls,
      onAttestationFailure: cfg.onAttestationFailure,
      tombstoneMachineName,
    });
    const maxTtl = Duration.seconds(Math.max(...Object.values(cfg.profiles).map((p) => p.maxTtlSeconds)));
    this.machine = new AidopsStateMachine(this, 'Machine', {
      stateMachineName: namesOf(this).sessionMachine,
      definition,
      // The longest TTL after the longest attestation, with an hour's margin for teardown.
      timeout: maxTtl.plus(attestationTimeout).plus(Duration.hours(1)),
      comment: 'Confidential desktop session: admit, launch, attest, release secrets, run until TTL or end, tear down',
      alarmTopic: props.alarmTopic,
    });

    const machine = this.machine.stateMachine;
    acknowledgeInvokeVersions(this.machine, Object.values(props.functions));
    acknowledge(
      machine,
      'AwsSolutions-IAM5[Resource::*]',
      'ec2:DescribeInstances (waiting for running) does not support resource-level permissions.',
    );
    if (cfg.onAttestationFailure === 'tombstone') {
      // What StepFunctionsStartExecution (.sync) grants DescribeExecution/StopExecution on.
      const executions = Stack.of(this).formatArn({
        service: 'states',
        resource: 'execution',
        resourceName: `${tombstoneMachineName}*`,
        arnFormat: ArnFormat.COLON_RESOURCE_NAME,
      });
      acknowledge(
        machine,
        `AwsSolutions-IAM5[Resource::${nagResource(machine, executions)}]`,
        '.sync start of the tombstone machine: its execution ARNs are known only at run time.',
      );
    }
  }
}
