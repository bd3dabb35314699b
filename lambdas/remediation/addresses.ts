/**
 * How remediation names the resources it touches: ARNs and console links, in the
 * partition and region of the execution that touches them (taken from its ARN,
 * so nothing here assumes the `aws` partition or reads the environment).
 */
import * as z from 'zod';

/** `$$.Execution.Id`: arn:PARTITION:states:REGION:ACCOUNT:execution:MACHINE:NAME. */
export const ExecutionArn = z
  .string()
  .regex(/^arn:[a-z-]+:states:[a-z0-9-]+:\d{12}:execution:[^:]+:[^:]+$/, 'a Step Functions execution ARN');

export interface Where {
  readonly partition: string;
  readonly region: string;
  readonly account: string;
}

/** Partition, region and account of an execution, and its machine and name. */
export function executionParts(executionArn: string): Where & { stateMachine: string; name: string } {
  const [, partition = '', , region = '', account = '', , stateMachine = '', name = ''] = executionArn.split(':');
  return { partition, region, account, stateMachine, name };
}

export const arnOf = {
  instance: (w: Where, id: string) => `arn:${w.partition}:ec2:${w.region}:${w.account}:instance/${id}`,
  snapshot: (w: Where, id: string) => `arn:${w.partition}:ec2:${w.region}::snapshot/${id}`,
  s3Object: (w: Where, bucket: string, key: string) => `arn:${w.partition}:s3:::${bucket}/${key}`,
};

/** The console's host in a partition (GovCloud and China have their own). */
function consoleBase(w: Pick<Where, 'partition' | 'region'>): string {
  if (w.partition === 'aws-us-gov') return 'https://console.amazonaws-us-gov.com';
  if (w.partition === 'aws-cn') return 'https://console.amazonaws.cn';
  return `https://${w.region}.console.aws.amazon.com`;
}

/** Console links a responder can click from an execution's output. */
export const consoleUrl = {
  opsItem: (w: Pick<Where, 'partition' | 'region'>, id: string) =>
    `${consoleBase(w)}/systems-manager/opsitems/${id}?region=${w.region}`,
  s3Object: (w: Pick<Where, 'partition' | 'region'>, bucket: string, key: string) =>
    `${consoleBase(w)}/s3/object/${bucket}?region=${w.region}&prefix=${encodeURIComponent(key)}`,
  snapshot: (w: Pick<Where, 'partition' | 'region'>, id: string) =>
    `${consoleBase(w)}/ec2/home?region=${w.region}#SnapshotDetails:snapshotId=${id}`,
  execution: (w: Pick<Where, 'partition' | 'region'>, arn: string) =>
    `${consoleBase(w)}/states/home?region=${w.region}#/v2/executions/details/${arn}`,
};
