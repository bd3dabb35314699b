/** Log groups are not made (nothing is logged to CloudWatch locally); they get their names and ARNs. */
import { localArn, type ProvisionerTable } from './types.ts';

export const logs: ProvisionerTable = {
  async 'AWS::Logs::LogGroup'({ id, type, p }) {
    const name = String(p.LogGroupName ?? `/local/${id}`);
    return { type, ref: name, attrs: { Arn: localArn('logs', `log-group:${name}:*`) } };
  },
};
