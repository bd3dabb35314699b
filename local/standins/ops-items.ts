/**
 * LOCAL STAND-IN for SSM OpsItems (CreateOpsItem, GetOpsItem, UpdateOpsItem,
 * DescribeOpsItems), which moto does not implement. Installed on the local
 * gateway for the `ssm` service: OpsItem actions are answered here (kept in
 * memory), every other SSM action is forwarded to moto unchanged, so handlers
 * use the real SDK calls they use in AWS.
 */
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import type { LocalServiceHandler } from '../emulator/gateway.ts';
import { LOCAL_REGION } from '../emulator/moto.ts';

export interface LocalOpsItem {
  OpsItemId: string;
  Title: string;
  Description?: string;
  Source?: string;
  Severity?: string;
  Category?: string;
  Priority?: number;
  Status: string;
  OperationalData: Record<string, { Value?: string; Type?: string }>;
  CreatedTime: number;
  LastModifiedTime: number;
  Tags?: { Key: string; Value: string }[];
}

/** Raw JSON-protocol forward to moto (it does not check signatures; the credential scope names the service). */
function forward(motoEndpoint: string, action: string, body: unknown): Promise<{ status: number; body: unknown }> {
  const url = new URL(motoEndpoint);
  const payload = Buffer.from(JSON.stringify(body ?? {}));
  const day = new Date().toISOString().slice(0, 10).replace(/-/g, '');
  return new Promise((resolve, reject) => {
    const req = request(
      {
        hostname: url.hostname,
        port: url.port,
        method: 'POST',
        path: '/',
        headers: {
          'content-type': 'application/x-amz-json-1.1',
          'x-amz-target': `AmazonSSM.${action}`,
          authorization: `AWS4-HMAC-SHA256 Credential=testing/${day}/${LOCAL_REGION}/ssm/aws4_request, SignedHeaders=host, Signature=local`,
          'content-length': String(payload.length),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = {};
          try {
            parsed = text ? JSON.parse(text) : {};
          } catch {
            parsed = { __type: 'InternalFailure', message: text.slice(0, 500) };
          }
          resolve({ status: res.statusCode ?? 500, body: parsed });
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

export class OpsItemsStandIn {
  readonly items = new Map<string, LocalOpsItem>();
  private readonly motoEndpoint: string;
  constructor(motoEndpoint: string) {
    this.motoEndpoint = motoEndpoint;
  }

  readonly handler: LocalServiceHandler = async (action, raw) => {
    const body = (raw ?? {}) as Record<string, any>;
    const now = Date.now() / 1000;
    const bad = (type: string, message: string) => ({ status: 400, body: { __type: type, message } });
    switch (action) {
      case 'CreateOpsItem': {
        if (!body.Title || !body.Source || !body.Description)
          return bad('ValidationException', 'Title, Source and Description are required');
        const id = `oi-${randomBytes(6).toString('hex')}`;
        this.items.set(id, {
          OpsItemId: id,
          Title: String(body.Title),
          Description: body.Description,
          Source: body.Source,
          Severity: body.Severity,
          Category: body.Category,
          Priority: body.Priority,
          Status: 'Open',
          OperationalData: body.OperationalData ?? {},
          CreatedTime: now,
          LastModifiedTime: now,
          Tags: body.Tags,
        });
        return {
          status: 200,
          body: { OpsItemId: id, OpsItemArn: `arn:aws:ssm:${LOCAL_REGION}:123456789012:opsitem/${id}` },
        };
      }
      case 'GetOpsItem': {
        const it = this.items.get(String(body.OpsItemId));
        return it
          ? { status: 200, body: { OpsItem: it } }
          : bad('OpsItemNotFoundException', `OpsItem ${body.OpsItemId} not found`);
      }
      case 'UpdateOpsItem': {
        const it = this.items.get(String(body.OpsItemId));
        if (!it) return bad('OpsItemNotFoundException', `OpsItem ${body.OpsItemId} not found`);
        if (body.Status) it.Status = String(body.Status);
        if (body.OperationalData) it.OperationalData = { ...it.OperationalData, ...body.OperationalData };
        it.LastModifiedTime = now;
        return { status: 200, body: {} };
      }
      case 'DescribeOpsItems': {
        const filters = (body.OpsItemFilters ?? []) as { Key: string; Values: string[]; Operator: string }[];
        const field = (it: LocalOpsItem, k: string): string | undefined =>
          k === 'Title'
            ? it.Title
            : k === 'OpsItemId'
              ? it.OpsItemId
              : k === 'Status'
                ? it.Status
                : k === 'Source'
                  ? it.Source
                  : undefined;
        const list = [...this.items.values()].filter((it) =>
          filters.every((f) => {
            const v = field(it, f.Key);
            if (v === undefined) return false;
            return f.Operator === 'Contains' ? f.Values.some((x) => v.includes(x)) : f.Values.includes(v);
          }),
        );
        return {
          status: 200,
          body: {
            OpsItemSummaries: list.map((it) => ({
              OpsItemId: it.OpsItemId,
              Title: it.Title,
              Status: it.Status,
              Source: it.Source,
              Severity: it.Severity,
              Category: it.Category,
              CreatedTime: it.CreatedTime,
              LastModifiedTime: it.LastModifiedTime,
            })),
          },
        };
      }
      default:
        return await forward(this.motoEndpoint, action, body);
    }
  };
}
