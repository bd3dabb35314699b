/**
 * The demo's sections, in game-day order. Each capability adds its section here.
 */
import { DescribeSnapshotsCommand, EC2Client, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { names } from '../lambdas/shared/names.ts';
import { Tags, tagValue } from '../lambdas/shared/tags.ts';
import { attestationSection, auditEverythingSection, auditSection, policySection } from './demo-core.ts';
import { pluginDemoSection } from './demo-plugins.ts';
import type { DemoSection } from './demo-section.ts';
import { runSessionDemo } from './demo-sessions.ts';
import { runGameDay } from './gameday.ts';

/** moto accepts only AMIs from its own list; in AWS each profile names its images. */
const DEMO_AMI = 'ami-12c6146b';

const snapshotSection: DemoSection = {
  title: 'Snapshot workflow: known-good snapshots of a session instance',
  async run({ rt, out }) {
    const ec2 = new EC2Client(rt.clientConfig());
    const sessionId = 'ses-demo-snapshot';
    const r = await ec2.send(
      new RunInstancesCommand({
        ImageId: DEMO_AMI,
        MinCount: 1,
        MaxCount: 1,
        InstanceType: 'm6a.large',
        TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: Tags.SessionId, Value: sessionId }] }],
        BlockDeviceMappings: ['/dev/xvda', '/dev/sdf'].map((d) => ({
          DeviceName: d,
          Ebs: { VolumeSize: 8, Encrypted: true },
        })),
      }),
    );
    out(`launched session instance ${r.Instances![0]!.InstanceId} for ${sessionId} (root + data volume)`);
    const ex = await rt.execute(
      names().snapshotMachine,
      { sessionId, reason: 'demo: hourly known-good' },
      'demo-snapshot-1',
    );
    out(rt.formatTimeline(ex));
    if (ex.status !== 'SUCCEEDED') throw new Error(`snapshot workflow ${ex.status}: ${ex.error}: ${ex.cause}`);
    const ids = (ex.output as { snapshotIds: string[] }).snapshotIds;
    const snaps = await ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: ids }));
    for (const s of snaps.Snapshots ?? []) {
      out(
        `  ${s.SnapshotId} of ${s.VolumeId}: ${s.State}, known-good=${tagValue(s.Tags, Tags.KnownGood)}, expires ${tagValue(s.Tags, Tags.ExpiresAt)}`,
      );
    }
    const bad = await rt.execute(names().snapshotMachine, { reason: 'no target named' }, 'demo-snapshot-bad');
    out(`bad input is refused fast: ${bad.status} with ${bad.error}: ${bad.cause}`);
  },
};

const sessionsSection: DemoSection = {
  title:
    'Sessions: one per tier (low: hardened, medium: Nitro Enclave parent, high: SEV-SNP), request → attested → active → end',
  async run({ rt, out }) {
    for (const line of await runSessionDemo(rt)) out(line);
  },
};

export const demoSections: DemoSection[] = [
  snapshotSection,
  auditSection,
  attestationSection,
  policySection,
  sessionsSection,
  pluginDemoSection,
  {
    title:
      'Game day: a protected write → policy deny → PolicyViolation → rule → tombstone → evidence under legal hold → approval → restore',
    async run({ rt, out }) {
      for (const line of await runGameDay(rt)) out(line);
    },
  },
  auditEverythingSection,
];
