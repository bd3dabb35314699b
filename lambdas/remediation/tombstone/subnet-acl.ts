/**
 * The optional subnet isolation (`isolateSubnet`): a deny-all network ACL (a new
 * ACL has no allow entries) associated with the instance's subnet. It affects
 * every instance in the subnet; restore does not remove it.
 */
import {
  CreateNetworkAclCommand,
  DescribeNetworkAclsCommand,
  type EC2Client,
  ReplaceNetworkAclAssociationCommand,
} from '@aws-sdk/client-ec2';
import * as z from 'zod';
import { awsCall } from '../../shared/aws-errors.ts';
import { tagValue } from '../../shared/tags.ts';
import type { Changes } from './changes.ts';

const QUARANTINE_ACL_TAG = 'aidops:quarantine-acl';

export const SubnetAcl = z.strictObject({
  subnetId: z.string(),
  previousAclId: z.string(),
  quarantineAclId: z.string(),
});
export type SubnetAcl = z.output<typeof SubnetAcl>;

/** Puts the subnet on the deny-all ACL (made on first use, found by tag after); null in a dry run. */
export async function isolateSubnet(
  ec2: EC2Client,
  where: { vpcId: string; subnetId: string },
  changes: Changes,
): Promise<SubnetAcl | null> {
  const { vpcId, subnetId } = where;
  const acls = await awsCall('ec2:DescribeNetworkAcls', () =>
    ec2.send(new DescribeNetworkAclsCommand({ Filters: [{ Name: 'vpc-id', Values: [vpcId] }] })),
  );
  const current = (acls.NetworkAcls ?? []).find((a) => (a.Associations ?? []).some((x) => x.SubnetId === subnetId));
  const assoc = current?.Associations?.find((x) => x.SubnetId === subnetId);
  const existing = (acls.NetworkAcls ?? []).find((a) => tagValue(a.Tags, QUARANTINE_ACL_TAG) === 'true');
  if (!current || !assoc?.NetworkAclAssociationId) return null;
  if (existing && current.NetworkAclId === existing.NetworkAclId) {
    return { subnetId, previousAclId: current.NetworkAclId!, quarantineAclId: existing.NetworkAclId! };
  }
  const applied = await changes.applyOrPlan(
    { action: 'ec2:ReplaceNetworkAclAssociation', resource: subnetId, detail: 'deny-all network ACL' },
    async () => {
      const quarantine =
        existing ??
        (
          await awsCall('ec2:CreateNetworkAcl', () =>
            ec2.send(
              new CreateNetworkAclCommand({
                VpcId: vpcId,
                TagSpecifications: [
                  { ResourceType: 'network-acl', Tags: [{ Key: QUARANTINE_ACL_TAG, Value: 'true' }] },
                ],
              }),
            ),
          )
        ).NetworkAcl!;
      await awsCall('ec2:ReplaceNetworkAclAssociation', () =>
        ec2.send(
          new ReplaceNetworkAclAssociationCommand({
            AssociationId: assoc.NetworkAclAssociationId!,
            NetworkAclId: quarantine.NetworkAclId!,
          }),
        ),
      );
      return { subnetId, previousAclId: current.NetworkAclId!, quarantineAclId: quarantine.NetworkAclId! };
    },
  );
  return applied ?? null;
}
