// The short chaos run (bench/chaos, issue 8 item 6): a bootstrap and 3 `hashpub start` CLI processes, REST
// publishers retrying with the same id, WebSocket subscribers that reconnect and resume, 3 kill -9 + restart
// rounds and one SIGSTOP/SIGCONT round. The audit must be clean: no acknowledged publish lost, no duplicate id,
// no offset holding two messages, no silent gap in any subscriber's stream, every channel's config and ban kept,
// and writes on a killed owner's channels accepted again. Without replication this fails (the baseline).
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { summaryTable } from '../../bench/chaos/report.js';
import { defaultSettings, runChaos, type ChaosSettings } from '../../bench/chaos/scenario.js';
import { killChildren, track } from '../../bench/support/proc.js';

after(() => killChildren());

test('chaos: 3 kills and a pause under load lose nothing acknowledged and leave no silent gap', { timeout: 150_000 }, async (t) => {
  const settings: ChaosSettings = {
    ...defaultSettings(), nodes: 3, rounds: 4, faults: ['kill', 'kill', 'kill', 'pause'], publishers: 4, subscribers: 2,
    channels: 12, rate: 25, downMs: [1000, 1500], pauseMs: [4000, 4500], settleMs: 500, warmupMs: 500,
  };
  const r = await runChaos(settings, { log: (m) => t.diagnostic(m), track });
  const a = r.audit;
  const table = summaryTable(a, settings.channels, r.history);
  for (const line of table.split('\n')) t.diagnostic(line);
  assert.ok(a.acked >= 100, `only ${a.acked} publishes acknowledged:\n${table}`);
  assert.equal(a.rounds.kill, 3);
  assert.equal(a.rounds.pause, 1);
  assert.equal(a.lost, 0, `acknowledged publishes lost: ${JSON.stringify(a.lostByKind)} e.g. ${JSON.stringify(a.lostSample.slice(0, 3))}\n${table}`);
  assert.equal(a.duplicates, 0, `duplicate ids in history\n${table}`);
  assert.equal(a.inconsistentAcks, 0, `ids acknowledged at two positions\n${table}`);
  assert.equal(a.conflictingOffsets, 0, `two messages at one offset: ${JSON.stringify(a.conflictSample.slice(0, 3))}\n${table}`);
  assert.equal(a.subscribers.silentGaps, 0, `silent gaps: ${JSON.stringify(a.subscribers.silentSample.slice(0, 3))}\n${table}`);
  assert.equal(a.subscribers.repeats, 0, `repeated messages\n${table}`);
  assert.equal(a.subscribers.behind, 0, `subscriber streams that never caught up\n${table}`);
  assert.equal(a.configLost, 0, `configs lost on ${a.configLostChannels.join(', ')}\n${table}`);
  assert.equal(a.bansLost, 0, `bans lost on ${a.bansLostChannels.join(', ')}\n${table}`);
  assert.deepEqual(a.readErrors, []);
  const stuck = r.history.failovers.filter((f) => f.channel !== null && f.ms === null);
  assert.deepEqual(stuck, [], 'a channel of a failed node accepted no write within 20 s');
});
