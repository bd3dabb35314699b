/**
 * Where a plugin admission waiting for a person parks its task token (the
 * approvals table, key `admissionId`: the execution's name), so the people's
 * door can answer it by id. The requester is the admission's `requestedBy`
 * (uploads through S3 name no principal: CloudTrail's data events do).
 */
import {
  type AttributeValue,
  DeleteItemCommand,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
} from '@aws-sdk/client-dynamodb';
import { awsCall } from '../shared/aws-errors.ts';

export interface PluginApproval {
  readonly token: string;
  readonly requestedBy: string;
  readonly pluginId: string;
  readonly version: string;
}

const S = (s: string): AttributeValue => ({ S: s });

export class PluginApprovals {
  readonly #ddb: DynamoDBClient;
  readonly #table: string;
  constructor(ddb: DynamoDBClient, table: string) {
    this.#ddb = ddb;
    this.#table = table;
  }

  async put(admissionId: string, a: PluginApproval, expiresAt: Date): Promise<void> {
    await awsCall('dynamodb:PutItem plugin approval', () =>
      this.#ddb.send(
        new PutItemCommand({
          TableName: this.#table,
          Item: {
            admissionId: S(admissionId),
            token: S(a.token),
            requestedBy: S(a.requestedBy),
            pluginId: S(a.pluginId),
            version: S(a.version),
            purgeAt: { N: String(Math.floor(expiresAt.getTime() / 1000)) },
          },
        }),
      ),
    );
  }

  async get(admissionId: string): Promise<PluginApproval | null> {
    const r = await awsCall('dynamodb:GetItem plugin approval', () =>
      this.#ddb.send(
        new GetItemCommand({ TableName: this.#table, Key: { admissionId: S(admissionId) }, ConsistentRead: true }),
      ),
    );
    const i = r.Item;
    if (!i?.token?.S) return null;
    return {
      token: i.token.S,
      requestedBy: i.requestedBy?.S ?? '',
      pluginId: i.pluginId?.S ?? '',
      version: i.version?.S ?? '',
    };
  }

  async delete(admissionId: string): Promise<void> {
    await awsCall('dynamodb:DeleteItem plugin approval', () =>
      this.#ddb.send(new DeleteItemCommand({ TableName: this.#table, Key: { admissionId: S(admissionId) } })),
    );
  }
}
