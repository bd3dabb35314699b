/**
 * The incident report from a real tombstone (synthesized ASL against moto, the
 * real handlers): the evidence step writes report.html beside the packet, locked
 * and held, and the packet names its version and hash; `aidops incident report`
 * renders it again with the ticket and the session chain's verdict; and a real
 * headless Chromium (Debian's package, driven by playwright-core, no browser
 * download) renders both pages: the sections and figures are in the DOM, no
 * script runs, hostile strings stay text. The screenshot is kept in .tmp/.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { GetObjectCommand, GetObjectLegalHoldCommand, HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { newEvent, publishAuditEvents } from '../../lambdas/audit/schema.ts';
import { names } from '../../lambdas/shared/names.ts';
import { launchFixtureSession } from '../../local/gameday.ts';
import { installStandins } from '../../local/standins/index.ts';
import { runCli } from '../helpers/cli.ts';
import { useRuntime } from '../helpers/runtime.ts';

/** Debian's chromium; AIDOPS_CHROMIUM names another (or a missing one, to see the skip). */
const CHROMIUM = process.env.AIDOPS_CHROMIUM ?? '/usr/bin/chromium';
const HOSTILE_REASON = `exfil "<script>alert('reason')</script>" & <img src=x onerror=alert(1)>`;
const HOSTILE_PATH = `/finance/<b>q3</b>"'&.xlsx`;
const OUT_DIR = path.resolve('.tmp');

describe('incident report from a real tombstone, rendered in headless Chromium', () => {
  const rt = useRuntime();
  const cfg = () => rt().clientConfig();
  const s3 = () => new S3Client(cfg());
  before(() => {
    installStandins(rt());
  });
  const bucket = () => rt().ref('AuditBucketPinned');

  /** The audit pipeline runs when pumped locally: pump it before each check of the packet's bounded wait. */
  async function withAuditPipeline<T>(run: () => Promise<T>): Promise<T> {
    const r = rt();
    const invoke = r.invoke.bind(r);
    const check = r.functionName('RemediationTombstoneAuditCheck');
    r.invoke = async (ref, payload) => {
      if (ref.includes(check)) await r.pumpEventSources();
      return await invoke(ref, payload);
    };
    try {
      return await run();
    } finally {
      r.invoke = invoke;
    }
  }

  let stored = '';
  let rendered = '';
  let sessionId = '';
  let snapshotIds: string[] = [];

  it('the tombstone writes report.html beside the packet, locked and held; the packet names it', async () => {
    const s = await launchFixtureSession(rt(), 'ses-report-1');
    sessionId = s.sessionId;
    await publishAuditEvents(new EventBridgeClient(cfg()), rt().ref('AuditIngestBus'), [
      newEvent('action', {
        source: 'agent',
        sessionId,
        detail: { type: 'fs_write', path: HOSTILE_PATH, bytes: 10, outcome: 'denied' },
      }),
    ]);
    await rt().pumpEventSources();
    const ex = await withAuditPipeline(() =>
      rt().execute(
        names().tombstoneMachine,
        { sessionId, reason: HOSTILE_REASON, source: 'evt-report', requestedBy: 'alice@example.com' },
        'tomb-report-1',
      ),
    );
    assert.equal(ex.status, 'SUCCEEDED', `${ex.error}: ${ex.cause}\n${rt().formatTimeline(ex)}`);
    const out = ex.output as { packet: { s3Uri: string; versionId: string }; snapshots: { snapshotIds: string[] } };
    const packetKey = `evidence/${sessionId}/tomb-report-1/packet.json`;
    assert.equal(out.packet.s3Uri, `s3://${bucket()}/${packetKey}`);
    snapshotIds = out.snapshots.snapshotIds;
    assert.ok(snapshotIds.length >= 1);

    const packetBody = await (
      await s3().send(new GetObjectCommand({ Bucket: bucket(), Key: packetKey, VersionId: out.packet.versionId }))
    ).Body!.transformToString();
    const packet = JSON.parse(packetBody);
    const key = `evidence/${sessionId}/tomb-report-1/report.html`;
    assert.equal(packet.report.key, key, 'beside the packet, same evidence prefix');
    const obj = await s3().send(
      new GetObjectCommand({ Bucket: bucket(), Key: key, VersionId: packet.report.versionId }),
    );
    assert.match(obj.ContentType ?? '', /^text\/html/);
    const body = Buffer.from(await obj.Body!.transformToByteArray());
    assert.equal(createHash('sha256').update(body).digest('hex'), packet.report.sha256, 'the packet records its hash');
    stored = body.toString('utf8');
    const head = await s3().send(
      new HeadObjectCommand({ Bucket: bucket(), Key: key, VersionId: packet.report.versionId }),
    );
    const packetHead = await s3().send(
      new HeadObjectCommand({ Bucket: bucket(), Key: packetKey, VersionId: out.packet.versionId }),
    );
    assert.equal(head.ObjectLockMode, 'COMPLIANCE');
    assert.equal(head.ObjectLockRetainUntilDate?.toISOString(), packetHead.ObjectLockRetainUntilDate?.toISOString());
    const hold = await s3().send(
      new GetObjectLegalHoldCommand({ Bucket: bucket(), Key: key, VersionId: packet.report.versionId }),
    );
    assert.equal(hold.LegalHold?.Status, 'ON');
    assert.ok(!stored.includes('<script'), 'the hostile reason is text');
  });

  it('aidops incident report renders it again with the ticket and the chain verdict', async () => {
    assert.ok(stored, 'the tombstone ran');
    await rt().pumpEventSources();
    await rt().fireSchedule('AuditIngestDigestSchedule');
    const dir = mkdtempSync(path.join(tmpdir(), 'aidops-report-'));
    const file = path.join(dir, 'report.html');
    const r = await runCli([
      'incident',
      'report',
      'tomb-report-1',
      '--html',
      file,
      '--key-id',
      rt().ref('AuditSigningKey'),
      '--endpoint',
      rt().endpoint,
    ]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /stored report: .*report\.html \(matches the packet\)/);
    assert.match(r.out, /audit chain: intact/);
    assert.match(r.out, /ticket: oi-/);
    rendered = readFileSync(file, 'utf8');
    rmSync(dir, { recursive: true, force: true });
    const summary = await runCli(['incident', 'report', 'tomb-report-1', '--endpoint', rt().endpoint]);
    assert.equal(summary.code, 0, summary.err);
    assert.match(summary.out, /time to isolation: \d+\.\d s \(objective 60 s\)/);
  });

  it('renders in a real headless Chromium: sections, figures, no script, a screenshot', async (t) => {
    assert.ok(rendered && stored, 'the reports exist');
    if (!existsSync(CHROMIUM)) return t.skip(`no Chromium at ${CHROMIUM} (.ci/run installs Debian's chromium package)`);
    const pw = await import('playwright-core').catch(() => null);
    if (!pw) return t.skip('playwright-core is not installed (npm ci installs it)');
    const profile = mkdtempSync(path.join(tmpdir(), 'aidops-chromium-'));
    const browser = await pw.chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      javaScriptEnabled: false,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
      viewport: { width: 1100, height: 900 },
    });
    try {
      mkdirSync(OUT_DIR, { recursive: true });
      // Any request the page makes is an external asset: there must be none.
      const requests: string[] = [];
      browser.on('request', (req) => {
        if (!req.url().startsWith('file:')) requests.push(req.url());
      });
      for (const [name, html] of [
        ['stored', stored],
        ['rendered', rendered],
      ] as const) {
        const file = path.join(OUT_DIR, `report-${name}.html`);
        writeFileSync(file, html);
        const page = await browser.newPage();
        await page.goto(pathToFileURL(file).href);
        const text = (sel: string) =>
          page
            .locator(sel)
            .first()
            .textContent()
            .then((t) => t ?? '');
        const dom = {
          title: await page.title(),
          sections: await page.locator('section').evaluateAll((els) => els.map((e) => e.id)),
          timeline: await page.locator('tr.timeline-row').allTextContents(),
          tti: (await page.locator('#tti .v').getAttribute('data-ms')) ?? '',
          ttiVerdict: await text('#tti-verdict'),
          chain: await text('#chain-verdict'),
          snapshots: await page.locator('tr.snapshot-row td:first-child').allTextContents(),
          events: await page.locator('tr.event-row').allTextContents(),
          reason: await text('#reason'),
          ticket: await text('#ticket'),
          scripts: await page.locator('script, img, link, iframe').count(),
          width: await page.locator('html').evaluate((e) => e.scrollWidth),
        };
        assert.match(dom.title, /^Incident tomb-report-1/);
        assert.deepEqual(dom.sections, ['summary', 'timeline', 'events', 'chain', 'snapshots', 'evidence', 'next']);
        assert.deepEqual(
          dom.timeline.map((r) => r.split(/\d{4}-/)[0]),
          [
            'Trigger',
            'Isolation (quarantine group applied)',
            'Credentials revoked',
            'Instance frozen',
            'Snapshots',
            'Evidence packet written',
          ],
        );
        assert.ok(
          dom.timeline.every((r) => /\d{4}-\d\d-\d\dT/.test(r)),
          `every phase has a time: ${dom.timeline}`,
        );
        assert.ok(Number(dom.tti) >= 0 && Number(dom.tti) <= 60_000, `time to isolation ${dom.tti} ms`);
        assert.equal(dom.ttiVerdict, 'met');
        assert.deepEqual([...dom.snapshots].sort(), [...snapshotIds].sort());
        assert.ok(
          dom.events.some((e) => e.includes(HOSTILE_PATH)),
          'the event that led to it, as text',
        );
        assert.equal(dom.reason, HOSTILE_REASON, 'the hostile reason is text, not markup');
        assert.equal(dom.scripts, 0);
        assert.ok(dom.width <= 1100, 'no horizontal overflow');
        if (name === 'stored') {
          assert.match(dom.chain, /Not checked/);
        } else {
          assert.match(dom.chain, /^Intact/);
          assert.match(dom.ticket, /Ticket oi-/);
          await page.screenshot({ path: path.join(OUT_DIR, 'report-screenshot.png'), fullPage: true });
        }
        await page.close();
      }
      assert.deepEqual(requests, [], 'no external request');
    } finally {
      await browser.close();
      rmSync(profile, { recursive: true, force: true });
    }
  });
});
