import { Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import * as kms from 'aws-cdk-lib/aws-kms';
import type { Construct } from 'constructs';
import type { AppConfig } from '../config.ts';

export interface StatefulStackProps extends StackProps {
  readonly config: AppConfig;
}

/**
 * What must outlive any redeploy: customer keys and (with the audit issue) the
 * Object-Locked audit bucket. Termination protection on; keys retained.
 */
export class StatefulStack extends Stack {
  /** Encrypts session volumes, secrets, tables, queues and logs. */
  readonly dataKey: kms.Key;

  constructor(scope: Construct, id: string, props: StatefulStackProps) {
    super(scope, id, { ...props, terminationProtection: true });
    this.dataKey = new kms.Key(this, 'DataKey', {
      alias: `alias/aidops-${props.config.environment}-data`,
      description: 'ai-desktop-ops: session volumes, secrets, tables, queues, execution history',
      enableKeyRotation: true,
      rotationPeriod: Duration.days(365),
      removalPolicy: RemovalPolicy.RETAIN,
      pendingWindow: Duration.days(30),
    });
  }
}
