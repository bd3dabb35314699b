/**
 * What the session VPC's flow logs deliver through a CloudWatch Logs
 * subscription filter, read strictly: the payload (`{ awslogs: { data } }`,
 * base64 of gzip of JSON with `logEvents`) and each record in the default
 * version 2 format the flow log writes (lib/constructs/network.ts sets no custom
 * format):
 *
 *   version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status
 *
 * A malformed payload is a ValidationError (nothing in it can be trusted); a
 * malformed record is counted and skipped, never a crash: one odd line must not
 * hide the rest of the batch.
 */
import { isIP } from 'node:net';
import { gunzipSync } from 'node:zlib';
import * as z from 'zod';
import { ValidationError } from '../shared/errors.ts';
import { parseOrThrow } from '../shared/validation.ts';

export interface FlowRecord {
  readonly accountId: string;
  readonly interfaceId: string;
  readonly srcaddr: string;
  readonly dstaddr: string;
  readonly srcport: number;
  readonly dstport: number;
  /** IANA protocol number (6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6). */
  readonly protocol: number;
  readonly packets: number;
  readonly bytes: number;
  /** Unix seconds: the aggregation window's start and end. */
  readonly start: number;
  readonly end: number;
  readonly action: 'ACCEPT' | 'REJECT';
}

export interface ParsedRecords {
  /** Records with data (log-status OK). */
  readonly records: FlowRecord[];
  /** NODATA: no traffic in the window; SKIPDATA: records lost in the window. Neither carries a flow. */
  readonly nodata: number;
  readonly skipdata: number;
  readonly malformed: number;
}

/** A default-format line is well under 200 characters; anything longer is not one. */
const MAX_LINE = 512;
/** A subscription delivery is at most 1 MB compressed; refuse to inflate past this. */
const MAX_INFLATED = 16 * 1024 * 1024;
const FIELDS = 14;
const UINT = /^(0|[1-9]\d{0,15})$/;
const ENI = /^eni-[0-9a-f]{8,17}$/;
const ACCOUNT = /^\d{12}$/;
/** Printable ASCII only: a flow-log line has nothing else. */
const PRINTABLE = /^[\x20-\x7e]+$/;

/** One spelling per address (IPv6 has many: `2001:DB8::1`, `2001:db8:0::1`), so flow logs and EC2 compare equal. */
export function canonicalIp(a: string): string {
  if (isIP(a) !== 6) return a;
  try {
    return new URL(`http://[${a}]/`).hostname.slice(1, -1);
  } catch {
    return a.toLowerCase();
  }
}

const uint = (s: string, max: number): number | null => {
  if (!UINT.test(s)) return null;
  const n = Number(s);
  return Number.isSafeInteger(n) && n <= max ? n : null;
};

/** The 14 fields of a default-format line (the count is checked before the cast). */
type Fields = [
  string,
  string,
  string,
  string,
  string,
  string,
  string,
  string,
  string,
  string,
  string,
  string,
  string,
  string,
];

type LineResult = { kind: 'record'; record: FlowRecord } | { kind: 'nodata' | 'skipdata' | 'malformed' };

/** One line of the default v2 format. */
export function parseFlowLine(line: string): LineResult {
  const bad = { kind: 'malformed' } as const;
  if (line.length === 0 || line.length > MAX_LINE || !PRINTABLE.test(line)) return bad;
  const f = line.split(' ');
  if (f.length !== FIELDS) return bad;
  const [version, account, eni, src, dst, sport, dport, proto, packets, bytes, start, end, action, status] =
    f as Fields;
  if (version !== '2' || !ACCOUNT.test(account) || !ENI.test(eni)) return bad;
  const startS = uint(start, 2 ** 32);
  const endS = uint(end, 2 ** 32);
  if (startS === null || endS === null || endS < startS) return bad;
  if (status === 'NODATA' || status === 'SKIPDATA') {
    // These carry no flow: every flow field is '-'.
    if (![src, dst, sport, dport, proto, packets, bytes, action].every((x) => x === '-')) return bad;
    return { kind: status === 'NODATA' ? 'nodata' : 'skipdata' };
  }
  if (status !== 'OK' || (action !== 'ACCEPT' && action !== 'REJECT')) return bad;
  if (isIP(src) === 0 || isIP(dst) === 0) return bad;
  const srcport = uint(sport, 65_535);
  const dstport = uint(dport, 65_535);
  const protocol = uint(proto, 255);
  const pk = uint(packets, Number.MAX_SAFE_INTEGER);
  const by = uint(bytes, Number.MAX_SAFE_INTEGER);
  if (srcport === null || dstport === null || protocol === null || pk === null || by === null) return bad;
  return {
    kind: 'record',
    record: {
      accountId: account,
      interfaceId: eni,
      srcaddr: canonicalIp(src),
      dstaddr: canonicalIp(dst),
      srcport,
      dstport,
      protocol,
      packets: pk,
      bytes: by,
      start: startS,
      end: endS,
      action,
    },
  };
}

export function parseFlowLines(lines: readonly string[]): ParsedRecords {
  const out = { records: [] as FlowRecord[], nodata: 0, skipdata: 0, malformed: 0 };
  for (const line of lines) {
    const r = parseFlowLine(line);
    if (r.kind === 'record') out.records.push(r.record);
    else out[r.kind] += 1;
  }
  return out;
}

/** The JSON inside a subscription delivery. */
export const SubscriptionPayload = z.strictObject({
  messageType: z.enum(['DATA_MESSAGE', 'CONTROL_MESSAGE']),
  owner: z.string().max(64),
  logGroup: z.string().max(512),
  logStream: z.string().max(512),
  subscriptionFilters: z.array(z.string().max(512)).max(8),
  logEvents: z
    .array(z.strictObject({ id: z.string().max(128), timestamp: z.number().int(), message: z.string().max(262_144) }))
    .max(100_000),
  policyLevel: z.string().max(64).optional(),
});
export type SubscriptionPayload = z.output<typeof SubscriptionPayload>;

/** What a subscription filter hands its Lambda destination. */
export const SubscriptionEvent = z.strictObject({
  awslogs: z.strictObject({ data: z.string().min(1).max(2_000_000) }),
});

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Decodes `{ awslogs: { data } }`; a payload that is not base64 gzip JSON of the right shape is a ValidationError. */
export function decodeSubscription(event: unknown): SubscriptionPayload {
  const { awslogs } = parseOrThrow(SubscriptionEvent, event, 'CloudWatch Logs subscription event');
  if (!BASE64.test(awslogs.data) || awslogs.data.length % 4 !== 0)
    throw new ValidationError('awslogs.data is not base64');
  let text: string;
  try {
    text = gunzipSync(Buffer.from(awslogs.data, 'base64'), { maxOutputLength: MAX_INFLATED }).toString('utf8');
  } catch (e) {
    throw new ValidationError(`awslogs.data is not gzip: ${(e as Error).message}`.slice(0, 200));
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new ValidationError('awslogs.data is not JSON');
  }
  return parseOrThrow(SubscriptionPayload, json, 'CloudWatch Logs subscription payload');
}

/** The payload's flow records (a control message, which CloudWatch Logs sends to check the destination, has none). */
export function flowRecordsOf(payload: SubscriptionPayload): ParsedRecords {
  if (payload.messageType === 'CONTROL_MESSAGE') return { records: [], nodata: 0, skipdata: 0, malformed: 0 };
  return parseFlowLines(payload.logEvents.map((e) => e.message));
}

const PROTOCOLS: Readonly<Record<number, string>> = { 1: 'icmp', 6: 'tcp', 17: 'udp', 58: 'icmpv6' };
export const protocolName = (n: number): string => PROTOCOLS[n] ?? String(n);
