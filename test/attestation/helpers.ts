import { CreateTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';

/** The nonce table as the Attestation construct defines it (partition key `nonce`). */
export async function createNonceTable(ddb: DynamoDBClient, name: string): Promise<void> {
  await ddb.send(
    new CreateTableCommand({
      TableName: name,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [{ AttributeName: 'nonce', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'nonce', KeyType: 'HASH' }],
    }),
  );
}
