/**
 * The flow-log reader on records in their real (default v2) format: ACCEPT,
 * REJECT, NODATA, SKIPDATA, IPv6; and what it must refuse without crashing:
 * wrong field counts, hostile bytes, impossible values; payloads that are not
 * base64 gzip JSON are ValidationErrors.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import {
  canonicalIp,
  decodeSubscription,
  flowRecordsOf,
  parseFlowLine,
  parseFlowLines,
} from '../../../lambdas/network-watch/flow-log.ts';

// The examples of the VPC Flow Logs user guide ("Flow log record examples"), default format.
const ACCEPT =
  '2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK';
const REJECT =
  '2 123456789010 eni-1235b8ca123456789 172.31.9.69 172.31.9.12 49761 3389 6 20 4249 1418530010 1418530070 REJECT OK';
const NODATA = '2 123456789010 eni-1235b8ca123456789 - - - - - - - 1431280876 1431280934 - NODATA';
const SKIPDATA = '2 123456789010 eni-11111111aaaaaaaaa - - - - - - - 1431280876 1431280934 - SKIPDATA';
const IPV6 =
  '2 123456789010 eni-1235b8ca123456789 2001:db8:1234:a100:8d6e:3477:df66:f105 2001:db8:1234:a102:3304:8879:34cf:4071 34892 22 6 54 8855 1477913708 1477913820 REJECT OK';

function payload(lines: string[], messageType = 'DATA_MESSAGE') {
  const json = {
    messageType,
    owner: '123456789010',
    logGroup: 'flow-logs',
    logStream: 'eni-1235b8ca123456789-all',
    subscriptionFilters: ['RejectedFlows'],
    logEvents: lines.map((message, i) => ({ id: String(i), timestamp: 1418530070000, message })),
  };
  return { awslogs: { data: gzipSync(Buffer.from(JSON.stringify(json))).toString('base64') } };
}

describe('flow-log records (default v2 format)', () => {
  it('reads ACCEPT and REJECT records field by field', () => {
    const a = parseFlowLine(ACCEPT);
    assert.equal(a.kind, 'record');
    assert.deepEqual(a.kind === 'record' && a.record, {
      accountId: '123456789010',
      interfaceId: 'eni-1235b8ca123456789',
      srcaddr: '172.31.16.139',
      dstaddr: '172.31.16.21',
      srcport: 20641,
      dstport: 22,
      protocol: 6,
      packets: 20,
      bytes: 4249,
      start: 1418530010,
      end: 1418530070,
      action: 'ACCEPT',
    });
    const r = parseFlowLine(REJECT);
    assert.equal(r.kind === 'record' && r.record.action, 'REJECT');
    assert.equal(r.kind === 'record' && r.record.dstport, 3389);
  });

  it('counts NODATA and SKIPDATA, which carry no flow', () => {
    assert.deepEqual(parseFlowLines([NODATA, SKIPDATA, SKIPDATA]), {
      records: [],
      nodata: 1,
      skipdata: 2,
      malformed: 0,
    });
  });

  it('reads IPv6 addresses, in one spelling', () => {
    const r = parseFlowLine(IPV6);
    assert.equal(r.kind, 'record');
    assert.equal(r.kind === 'record' && r.record.srcaddr, '2001:db8:1234:a100:8d6e:3477:df66:f105');
    assert.equal(canonicalIp('2001:DB8:0:0::1'), '2001:db8::1');
    assert.equal(canonicalIp('10.0.0.1'), '10.0.0.1');
  });

  it('counts and skips malformed records, never throws', () => {
    const bad = [
      '',
      REJECT.split(' ').slice(0, 13).join(' '), // 13 fields
      `${REJECT} extra`, // 15 fields
      REJECT.replace(/^2 /, '3 '), // another version's layout
      REJECT.replace('172.31.9.69', '999.1.1.1'),
      REJECT.replace('49761', '65536'),
      REJECT.replace(' 6 20 ', ' 256 20 '),
      REJECT.replace('REJECT', 'DROP'),
      REJECT.replace(' OK', ' WAT'),
      REJECT.replace('eni-1235b8ca123456789', 'i-0123456789abcdef0'),
      REJECT.replace('123456789010', '12345'),
      REJECT.replace('1418530070', '1418530000'), // ends before it starts
      REJECT.replace(' 20 4249', ' -1 4249'),
      REJECT.replace(' 20 4249', ' 1e3 4249'),
      REJECT.replace(' 3389 ', '  3389 '), // two spaces: an empty field
      `${REJECT}\u0000`,
      REJECT.replace('172.31.9.12', '172.31.9.12\u202e'),
      `${REJECT}\n${ACCEPT}`,
      REJECT.replace('REJECT', 'R\u00c9JECT'),
      'x'.repeat(100_000),
      NODATA.replace(' - - - - - - - ', ' 1.2.3.4 - - - - - - '), // NODATA with a flow field
    ];
    const out = parseFlowLines([...bad, REJECT]);
    assert.equal(out.malformed, bad.length);
    assert.equal(out.records.length, 1);
  });
});

describe('subscription payloads', () => {
  it('decodes base64 gzip JSON with logEvents into records', () => {
    const p = decodeSubscription(payload([ACCEPT, REJECT, NODATA, 'garbage']));
    assert.equal(p.logGroup, 'flow-logs');
    const r = flowRecordsOf(p);
    assert.equal(r.records.length, 2);
    assert.equal(r.nodata, 1);
    assert.equal(r.malformed, 1);
  });

  it('a control message carries no records', () => {
    assert.deepEqual(flowRecordsOf(decodeSubscription(payload(['CWL CONTROL MESSAGE'], 'CONTROL_MESSAGE'))), {
      records: [],
      nodata: 0,
      skipdata: 0,
      malformed: 0,
    });
  });

  it('anything else is a ValidationError', () => {
    const gz = (s: string) => gzipSync(Buffer.from(s)).toString('base64');
    for (const event of [
      null,
      'x',
      {},
      { awslogs: {} },
      { awslogs: { data: '' } },
      { awslogs: { data: 'not base64!' } },
      { awslogs: { data: Buffer.from('plain text').toString('base64') } },
      { awslogs: { data: gz('not json') } },
      { awslogs: { data: gz('{"messageType":"DATA_MESSAGE"}') } },
      { awslogs: { data: gz(JSON.stringify({ ...JSON.parse('{}'), messageType: 'X', logEvents: [] })) } },
      { awslogs: { data: payload([REJECT]).awslogs.data, extra: 1 } },
    ])
      assert.throws(() => decodeSubscription(event), { name: 'ValidationError' }, JSON.stringify(event));
  });

  it('refuses a payload that inflates past its bound', () => {
    const bomb = gzipSync(Buffer.alloc(20 * 1024 * 1024, 0x20)).toString('base64');
    assert.throws(() => decodeSubscription({ awslogs: { data: bomb } }), { name: 'ValidationError' });
  });
});
