import { EC2Client, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { Tags } from '../../lambdas/shared/tags.ts';
import type { LocalRuntime } from '../../local/runtime.ts';

/** An AMI moto knows (its default image list); session images are profile config in AWS. */
export const MOTO_AMI = 'ami-12c6146b';

/** Launches a plain instance tagged as a session's, with extra data volumes. */
export async function launchSessionInstance(rt: LocalRuntime, sessionId: string, dataVolumes = 1): Promise<string> {
  const ec2 = new EC2Client(rt.clientConfig());
  const devs = ['/dev/sdf', '/dev/sdg', '/dev/sdh'];
  const r = await ec2.send(
    new RunInstancesCommand({
      ImageId: MOTO_AMI,
      MinCount: 1,
      MaxCount: 1,
      InstanceType: 'm6a.large',
      TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: Tags.SessionId, Value: sessionId }] }],
      // moto makes no root volume when mappings are given, so name the root explicitly.
      BlockDeviceMappings: ['/dev/xvda', ...devs.slice(0, dataVolumes)].map((d) => ({
        DeviceName: d,
        Ebs: { VolumeSize: 8, Encrypted: true },
      })),
    }),
  );
  return r.Instances![0]!.InstanceId!;
}
