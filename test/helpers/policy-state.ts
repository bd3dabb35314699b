/**
 * The stores the decider reads, in moto without the whole control plane: a
 * session table, a scope-request table and the plugin registry, and a way to put
 * a session item as the session workflow leaves it.
 */
import { CreateTableCommand, type DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { createRegistryTable } from '../../lambdas/plugins/registry.ts';

export const TABLES = { sessions: 'aidops-sessions', requests: 'aidops-scope-requests', registry: 'aidops-plugins' };

async function hashTable(ddb: DynamoDBClient, name: string, key: string): Promise<void> {
  await ddb.send(
    new CreateTableCommand({
      TableName: name,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [{ AttributeName: key, AttributeType: 'S' }],
      KeySchema: [{ AttributeName: key, KeyType: 'HASH' }],
    }),
  );
}

export async function createStateTables(ddb: DynamoDBClient): Promise<void> {
  await hashTable(ddb, TABLES.sessions, 'sessionId');
  await hashTable(ddb, TABLES.requests, 'requestId');
  await createRegistryTable(ddb, TABLES.registry);
}

export interface SessionFixture {
  readonly sessionId: string;
  readonly status?: string;
  readonly tier?: string;
  readonly cohort?: string;
  readonly user?: string;
  readonly os?: string;
  /** @default an hour from now */
  readonly expiresAt?: string;
  /** Grants already on the item: scope → expiresAt. */
  readonly scopes?: Readonly<Record<string, string>>;
}

/** A session item with the fields the admit and record steps write. */
export async function putSession(ddb: DynamoDBClient, s: SessionFixture, table = TABLES.sessions): Promise<void> {
  const S = (v: string) => ({ S: v });
  await ddb.send(
    new PutItemCommand({
      TableName: table,
      Item: {
        sessionId: S(s.sessionId),
        status: S(s.status ?? 'active'),
        tier: S(s.tier ?? 'medium'),
        cohort: S(s.cohort ?? 'pilot'),
        user: S(s.user ?? 'alice@example.com'),
        useCase: S('document-authoring'),
        requestedAt: S(new Date().toISOString()),
        expiresAt: S(s.expiresAt ?? new Date(Date.now() + 3_600_000).toISOString()),
        ...(s.os ? { os: S(s.os) } : {}),
        ...(s.scopes
          ? {
              scopes: {
                M: Object.fromEntries(
                  Object.entries(s.scopes).map(([scope, exp]) => [
                    scope,
                    {
                      M: {
                        requestId: S(`fixture-${scope}`),
                        expiresAt: S(exp),
                        grantedBy: S('arn:aws:iam::123456789012:user/fixture'),
                        grantedAt: S(new Date().toISOString()),
                      },
                    },
                  ]),
                ),
              },
            }
          : {}),
      },
    }),
  );
}
