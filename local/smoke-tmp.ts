import { EC2Client } from '@aws-sdk/client-ec2';
import { groupsOf, launchFixtureSession } from './gameday.ts';
import { LocalRuntime } from './runtime.ts';
import { installStandins } from './standins/index.ts';

const rt = await LocalRuntime.start({ logLevel: 'ERROR' });
try {
  installStandins(rt);
  const s = await launchFixtureSession(rt, 'ses-smoke-1');
  const ec2 = new EC2Client(rt.clientConfig());
  console.log('before', await groupsOf(ec2, s.instanceId));
  const ex = await rt.execute(
    'aidops-tombstone',
    { sessionId: s.sessionId, reason: 'smoke', source: 'manual:1', requestedBy: 'alice' },
    'smoke-1',
  );
  console.log(ex.status, ex.error, ex.cause);
  console.log(JSON.stringify(ex.output, null, 1));
  console.log(rt.formatTimeline(ex));
  console.log('after', await groupsOf(ec2, s.instanceId));
} finally {
  await rt.stop();
}
