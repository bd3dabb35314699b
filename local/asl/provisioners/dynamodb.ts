import { CreateTableCommand, UpdateTimeToLiveCommand } from '@aws-sdk/client-dynamodb';
import { localArn, type Provisioner, type ProvisionerTable } from './types.ts';

const table: Provisioner = async ({ c, id, type, p }) => {
  const name = String(p.TableName ?? id);
  await c.ddb.send(
    new CreateTableCommand({
      TableName: name,
      KeySchema: p.KeySchema,
      AttributeDefinitions: p.AttributeDefinitions,
      BillingMode: 'PAY_PER_REQUEST',
      GlobalSecondaryIndexes: p.GlobalSecondaryIndexes?.map((g: any) => ({
        IndexName: g.IndexName,
        KeySchema: g.KeySchema,
        Projection: g.Projection,
      })),
    }),
  );
  if (p.TimeToLiveSpecification?.Enabled) {
    await c.ddb.send(
      new UpdateTimeToLiveCommand({
        TableName: name,
        TimeToLiveSpecification: { Enabled: true, AttributeName: p.TimeToLiveSpecification.AttributeName },
      }),
    );
  }
  return {
    type,
    ref: name,
    attrs: {
      Arn: localArn('dynamodb', `table/${name}`),
      StreamArn: localArn('dynamodb', `table/${name}/stream/local`),
    },
  };
};

export const dynamodb: ProvisionerTable = {
  'AWS::DynamoDB::Table': table,
  'AWS::DynamoDB::GlobalTable': table,
};
