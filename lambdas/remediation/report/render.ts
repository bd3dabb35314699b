/**
 * The incident report a person reads: one self-contained HTML page (inline CSS,
 * no scripts, no external assets) rendered from the evidence packet, the session's
 * audit events up to the incident, the audit chain's verdict and the ticket. Pure:
 * the evidence step and `aidops incident report` gather the inputs. Every value
 * from the packet is escaped: session ids, reasons and paths come from outside.
 */
import { TIERS } from '../../sessions/tiers.ts';
import type { buildPacket } from '../tombstone/packet.ts';

export type EvidencePacket = ReturnType<typeof buildPacket>;

/** Default containment objective: the quarantine group applied within 60 s of the trigger. */
export const DEFAULT_ISOLATION_OBJECTIVE_MS = 60_000;

export const REPORT_FORMAT = 'aidops.incident-report/1' as const;

/** One audit event of the session, as the report lists it. */
export interface ReportEvent {
  readonly time: string;
  readonly kind: string;
  readonly summary: string;
}

/** The verifier's verdict on the session's chain; null: not checked when the report was written. */
export interface ChainVerdict {
  readonly intact: boolean;
  readonly objects: number;
  readonly events: number;
  readonly digestedThroughSeq: number;
  readonly findings: readonly { code: string; message: string }[];
}

export interface ReportTicket {
  readonly id: string;
  readonly url?: string;
}

export interface ReportInputs {
  readonly packet: EvidencePacket;
  /** The trigger's own time (the event that asked for the tombstone); default: the request's validation. */
  readonly triggeredAt?: string | null;
  readonly events: readonly ReportEvent[];
  readonly chain: ChainVerdict | null;
  /** Where the packet itself is (key, version, hash), when known. */
  readonly packetRef?: { key: string; versionId: string | null; sha256: string } | null;
  readonly ticket: ReportTicket | null;
  /** @default 60 000 ms */
  readonly objectiveMs?: number;
  /** The session's tier, for the playbook link. @default the packet's */
  readonly tier?: string | null;
  /** Where the playbooks are. @default 'docs/playbooks/' in the project's repository */
  readonly playbookBase?: string;
}

const ESC: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
/** Escapes text for element content and quoted attributes. */
export function esc(v: unknown): string {
  return String(v ?? '').replace(/[&<>"']/g, (c) => ESC[c]!);
}

/** Only http(s) links are made links (a `javascript:` url in a ticket stays text). */
function link(url: string | undefined | null, text: string): string {
  return url && /^https?:\/\//i.test(url) ? `<a href="${esc(url)}">${esc(text)}</a>` : esc(text);
}

const ms = (a: string | null | undefined, b: string | null | undefined): number | null =>
  a && b && !Number.isNaN(Date.parse(a)) && !Number.isNaN(Date.parse(b)) ? Date.parse(b) - Date.parse(a) : null;

const secs = (n: number | null) => (n === null ? 'unknown' : `${(n / 1000).toFixed(1)} s`);

/** The incident's phases, from the packet's own step times and the execution's history. */
export function reportTimeline(
  p: EvidencePacket,
  triggeredAt: string | null,
): { phase: string; time: string | null }[] {
  const step = (s: string) => p.steps.find((x) => x.step.startsWith(s))?.time ?? null;
  const entered = (re: RegExp) => p.timeline.find((e) => e.state && re.test(e.state))?.time ?? null;
  const firstSnap = p.snapshots.map((s) => s.startTime).find(Boolean) ?? entered(/snapshot/i);
  return [
    { phase: 'Trigger', time: triggeredAt ?? step('validated') },
    { phase: 'Isolation (quarantine group applied)', time: step('quarantine group applied') },
    { phase: 'Credentials revoked', time: step('credentials revoked') },
    { phase: 'Instance frozen', time: step('freeze requested') },
    { phase: 'Snapshots', time: firstSnap ? String(firstSnap) : null },
    { phase: 'Evidence packet written', time: p.createdAt },
  ];
}

/** The trigger's time as far as the packet knows it: the execution's start, else the request's validation. */
export function triggerTime(p: EvidencePacket): string | null {
  return (
    p.timeline.find((e) => e.type === 'ExecutionStarted')?.time ??
    p.steps.find((s) => s.step === 'validated')?.time ??
    null
  );
}

export function timeToIsolation(p: EvidencePacket, triggeredAt: string | null): number | null {
  return ms(triggeredAt ?? p.steps.find((s) => s.step === 'validated')?.time, p.isolation.quarantineAppliedAt);
}

const CSS = `
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1d2330;margin:0;background:#f4f6f9}
main{max-width:980px;margin:0 auto;padding:24px 28px 48px;background:#fff}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:2px solid #e3e7ee;padding-bottom:4px}
.sub{color:#5a6473;margin:0 0 16px;word-break:break-all}
table{border-collapse:collapse;width:100%;font-size:14px}th,td{text-align:left;padding:5px 8px;border-bottom:1px solid #e8ebf0;vertical-align:top;word-break:break-word}
th{background:#f7f8fa;font-weight:600}
.figures{display:flex;gap:14px;flex-wrap:wrap}.figure{flex:1 1 200px;border:1px solid #dde2ea;border-radius:8px;padding:12px 14px}
.figure .v{font-size:26px;font-weight:700}.figure .l{color:#5a6473;font-size:13px}
#events td:nth-child(-n+2){white-space:nowrap}
.ok{color:#17703a}.bad{color:#b42318}.warn{color:#a15c00}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:13px;font-weight:600}
.badge.ok{background:#e3f5e9}.badge.bad{background:#fde8e7}.badge.warn{background:#fff3dc}
code{font:13px ui-monospace,Menlo,Consolas,monospace;background:#f2f4f7;padding:0 3px;border-radius:3px;word-break:break-all}
ol li{margin:4px 0}footer{color:#5a6473;font-size:12px;margin-top:32px}
`;

function figures(i: ReportInputs, tti: number | null, objective: number): string {
  const met = tti !== null && tti <= objective;
  const chain = i.chain;
  const p = i.packet;
  return `<div class="figures">
<div class="figure" id="tti"><div class="l">Time to isolation</div><div class="v ${tti === null ? 'warn' : met ? 'ok' : 'bad'}" data-ms="${tti ?? ''}">${esc(secs(tti))}</div><div class="l">objective ${esc(secs(objective))}: <span class="badge ${tti === null ? 'warn' : met ? 'ok' : 'bad'}" id="tti-verdict">${tti === null ? 'unknown' : met ? 'met' : 'missed'}</span></div></div>
<div class="figure" id="chain-figure"><div class="l">Audit chain</div><div class="v ${chain ? (chain.intact ? 'ok' : 'bad') : 'warn'}">${chain ? (chain.intact ? 'intact' : 'BROKEN') : 'not checked'}</div><div class="l">${chain ? `${chain.events} events in ${chain.objects} objects` : 'run aidops audit verify'}</div></div>
<div class="figure"><div class="l">Evidence packet</div><div class="v ${p.complete ? 'ok' : 'warn'}">${p.complete ? 'complete' : 'incomplete'}</div><div class="l">${p.snapshots.length} snapshot(s), ${p.audit.objects.length} audit object(s)</div></div>
</div>`;
}

function timelineSection(i: ReportInputs, triggeredAt: string | null): string {
  const rows = reportTimeline(i.packet, triggeredAt);
  const t0 = rows[0]?.time ?? null;
  const body = rows
    .map(
      (r) =>
        `<tr class="timeline-row"><td>${esc(r.phase)}</td><td><code>${esc(r.time ?? 'not recorded')}</code></td><td>${r.time ? esc(`+${secs(ms(t0, r.time))}`) : ''}</td></tr>`,
    )
    .join('\n');
  return `<section id="timeline"><h2>Timeline</h2><table><thead><tr><th>Phase</th><th>Time (UTC)</th><th>Since trigger</th></tr></thead><tbody>
${body}</tbody></table></section>`;
}

function eventsSection(events: readonly ReportEvent[]): string {
  const body =
    events.length === 0
      ? '<tr><td colspan="3">No audit event of the session before the incident was in the trail.</td></tr>'
      : events
          .map(
            (e) =>
              `<tr class="event-row"><td><code>${esc(e.time)}</code></td><td>${esc(e.kind)}</td><td>${esc(e.summary)}</td></tr>`,
          )
          .join('\n');
  return `<section id="events"><h2>What led to it (the session's audit trail)</h2><table><thead><tr><th>Time</th><th>Kind</th><th>What</th></tr></thead><tbody>
${body}</tbody></table></section>`;
}

function chainSection(i: ReportInputs): string {
  const c = i.chain;
  const p = i.packet;
  const head = c
    ? `<p id="chain-verdict" class="${c.intact ? 'ok' : 'bad'}"><strong>${c.intact ? 'Intact' : 'Not intact'}</strong>: ${c.objects} object(s), ${c.events} event(s), digests cover through seq ${c.digestedThroughSeq}.</p>`
    : `<p id="chain-verdict" class="warn"><strong>Not checked</strong> when this report was written: run <code>aidops audit verify --session ${esc(p.sessionId ?? '')}</code>.</p>`;
  const findings =
    c && c.findings.length > 0
      ? `<ul>${c.findings.map((f) => `<li><code>${esc(f.code)}</code> ${esc(f.message)}</li>`).join('')}</ul>`
      : '';
  const trail = p.audit.complete
    ? ''
    : `<p class="warn">The audit trail had not caught up with the incident: ${esc('reason' in p.audit ? p.audit.reason : '')}</p>`;
  return `<section id="chain"><h2>Audit chain</h2>${head}${findings}${trail}</section>`;
}

function snapshotsSection(p: EvidencePacket): string {
  const body =
    p.snapshots.length === 0
      ? '<tr><td colspan="5">No snapshot (a dry run, or the snapshot step failed: see below).</td></tr>'
      : p.snapshots
          .map(
            (s) =>
              `<tr class="snapshot-row"><td>${link(s.url, s.snapshotId ?? '')}</td><td><code>${esc(s.volumeId)}</code></td><td>${esc(s.state)}</td><td>${esc(s.volumeSize)} GiB</td><td>${s.encrypted ? 'yes' : 'no'}</td></tr>`,
          )
          .join('\n');
  return `<section id="snapshots"><h2>Snapshots</h2><table><thead><tr><th>Snapshot</th><th>Volume</th><th>State</th><th>Size</th><th>Encrypted</th></tr></thead><tbody>
${body}</tbody></table></section>`;
}

function ticketSection(i: ReportInputs): string {
  const p = i.packet;
  const ticket = i.ticket
    ? `<p id="ticket">Ticket ${link(i.ticket.url, i.ticket.id)}</p>`
    : '<p id="ticket">The ticket (OpsItem) is opened after the evidence step: see the execution\'s output (<code>aidops incident status</code>).</p>';
  const ref = i.packetRef
    ? `<p>Evidence packet <code>${esc(i.packetRef.key)}</code> version <code>${esc(i.packetRef.versionId ?? 'none (dry run)')}</code>, SHA-256 <code>${esc(i.packetRef.sha256)}</code>.</p>`
    : '';
  const missing =
    p.incomplete.length > 0
      ? `<p class="warn">Missing from the evidence:</p><ul>${p.incomplete.map((x) => `<li>${esc(x.step)}: <code>${esc(x.error)}</code> ${esc(x.cause)}</li>`).join('')}</ul>`
      : '';
  return `<section id="evidence"><h2>Ticket and evidence</h2>${ticket}${ref}${missing}</section>`;
}

function nextSection(i: ReportInputs): string {
  const named = i.tier ?? i.packet.tier;
  const tier = named && (TIERS as readonly string[]).includes(named) ? named : null;
  const base = i.playbookBase ?? 'docs/playbooks/';
  const playbook = tier ? `${base}${tier}.md` : 'docs/remediation.md';
  const target = i.packet.sessionId ? `--session ${i.packet.sessionId}` : `--instance ${i.packet.instanceId}`;
  return `<section id="next"><h2>What the responder does next</h2><ol>
<li>Read the playbook${tier ? ` for the ${esc(tier)} tier` : ''}: <code>${esc(playbook)}</code> (who is paged, customer notification).</li>
<li>Check the time to isolation against the objective above; if it was missed, open a problem record.</li>
<li>Read the events that led to it; confirm or dismiss the trigger.</li>
<li>Check the audit chain verdict; if it is not intact, escalate as evidence tampering.</li>
<li>Decide: restore from the last known-good snapshot (<code>aidops incident restore ${esc(target)}</code>, then approve) or keep it isolated and terminate it after the evidence is preserved.</li>
</ol></section>`;
}

/** The report page. */
export function renderReport(i: ReportInputs): string {
  const p = i.packet;
  const objective = i.objectiveMs ?? DEFAULT_ISOLATION_OBJECTIVE_MS;
  const triggeredAt = i.triggeredAt ?? triggerTime(p);
  const tti = timeToIsolation(p, triggeredAt);
  const title = `Incident ${p.incidentId}`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="generator" content="${REPORT_FORMAT}">
<title>${esc(title)}</title><style>${CSS}</style></head>
<body><main>
<h1>${esc(title)}${p.request.source === 'dry-run' ? ' (dry run)' : ''}</h1>
<p class="sub">Session <code id="session">${esc(p.sessionId ?? 'none')}</code> · instance <code>${esc(p.instanceId)}</code> · execution <code>${esc(p.execution)}</code></p>
<section id="summary"><h2>Summary</h2>
<table><tbody>
<tr><th>Reason</th><td id="reason">${esc(p.request.reason)}</td></tr>
<tr><th>Source</th><td>${esc(p.request.source)}</td></tr>
<tr><th>Requested by</th><td>${esc(p.request.requestedBy)}</td></tr>
<tr><th>Security groups after</th><td><code>${esc(
    Object.entries(p.securityGroups.after)
      .map(([eni, gs]) => `${eni}: ${gs.join(', ')}`)
      .join('; '),
  )}</code></td></tr>
<tr><th>Freeze</th><td>${esc(p.freeze.mode)}</td></tr>
</tbody></table>
${figures(i, tti, objective)}
</section>
${timelineSection(i, triggeredAt)}
${eventsSection(i.events)}
${chainSection(i)}
${snapshotsSection(p)}
${ticketSection(i)}
${nextSection(i)}
<footer>Written ${esc(p.createdAt)} from evidence packet format ${esc(p.format)}. This page is evidence: it is kept under Object Lock and legal hold beside the packet.</footer>
</main></body></html>
`;
}
