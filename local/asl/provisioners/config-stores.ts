/** Secrets Manager secrets and SSM parameters. */
import { randomBytes } from 'node:crypto';
import { CreateSecretCommand } from '@aws-sdk/client-secrets-manager';
import { PutParameterCommand } from '@aws-sdk/client-ssm';
import { type ProvisionerTable, str } from './types.ts';

export const configStores: ProvisionerTable = {
  async 'AWS::SecretsManager::Secret'({ c, id, type, p }) {
    const s = await c.sm.send(
      new CreateSecretCommand({
        Name: String(p.Name ?? id),
        SecretString: str(p.SecretString) ?? generateSecretString(p.GenerateSecretString),
        Description: str(p.Description),
      }),
    );
    return { type, ref: s.ARN!, attrs: { Id: s.ARN! } };
  },
  async 'AWS::SSM::Parameter'({ c, id, type, p }) {
    const name = String(p.Name ?? `/aidops/${id}`);
    await c.ssm.send(
      new PutParameterCommand({ Name: name, Value: String(p.Value), Type: p.Type ?? 'String', Overwrite: true }),
    );
    return { type, ref: name, attrs: { Type: String(p.Type ?? 'String'), Value: String(p.Value) } };
  },
};

/** What CloudFormation's GenerateSecretString would make: random, of the asked length and alphabet. */
function generateSecretString(g: any): string {
  const length = Number(g?.PasswordLength ?? 32);
  let alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  if (!g?.ExcludePunctuation) alphabet += '!#$%&()*+,-.:;<=>?@[]^_{|}~';
  if (g?.ExcludeCharacters) alphabet = [...alphabet].filter((c) => !String(g.ExcludeCharacters).includes(c)).join('');
  const bytes = randomBytes(length);
  const value = [...bytes].map((b) => alphabet[b % alphabet.length]).join('');
  if (g?.SecretStringTemplate && g?.GenerateStringKey) {
    return JSON.stringify({ ...JSON.parse(String(g.SecretStringTemplate)), [String(g.GenerateStringKey)]: value });
  }
  return value;
}
