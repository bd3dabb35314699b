import { AddRoleToInstanceProfileCommand, CreateInstanceProfileCommand, CreateRoleCommand } from '@aws-sdk/client-iam';
import type { ProvisionerTable } from './types.ts';

export const iam: ProvisionerTable = {
  async 'AWS::IAM::Role'({ c, id, type, p }) {
    const name = String(p.RoleName ?? id).slice(0, 64);
    const r = await c.iam.send(
      new CreateRoleCommand({
        RoleName: name,
        AssumeRolePolicyDocument: JSON.stringify(p.AssumeRolePolicyDocument ?? {}),
      }),
    );
    return { type, ref: name, attrs: { Arn: r.Role!.Arn!, RoleId: r.Role!.RoleId! } };
  },
  async 'AWS::IAM::InstanceProfile'({ c, id, type, p }) {
    const name = String(p.InstanceProfileName ?? id).slice(0, 128);
    const ip = await c.iam.send(new CreateInstanceProfileCommand({ InstanceProfileName: name }));
    for (const role of p.Roles ?? [])
      await c.iam.send(new AddRoleToInstanceProfileCommand({ InstanceProfileName: name, RoleName: role }));
    return { type, ref: name, attrs: { Arn: ip.InstanceProfile!.Arn! } };
  },
};
