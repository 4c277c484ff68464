// Catch-up chunks against every store: a channel streamed in chunks and written with chunkOps() is the same
// channel on the other side, chunk sizes stay bounded, and a resume sends only what the replica lacks.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import type { Message } from '../../lib/protocol/types.js';
import { CHUNK_BYTES, CHUNK_IDS, chunkOps, chunksOf } from '../../lib/replication/chunks.js';
import { LevelStore } from '../../lib/store/level-store.js';
import { MemoryStore } from '../../lib/store/memory-store.js';
import { emptyRecord, type ChannelRecord, type Store } from '../../lib/store/store.js';

const dirs: string[] = [];
after(async () => { for (const d of dirs) await rm(d, { recursive: true, force: true }); });

const stores: Array<[string, () => Promise<Store>]> = [
  ['memory', async () => new MemoryStore()],
  ['level', async () => {
    const d = await mkdtemp(join(tmpdir(), 'hashpub-chunks-'));
    dirs.push(d);
    return new LevelStore(join(d, 'db'));
  }],
];

function channelRecord(messages: number, dataBytes: number, ids: number): ChannelRecord {
  const history: Message[] = Array.from({ length: messages }, (_, i) => ({
    channel: 'c', epoch: 'e1', offset: i + 1, data: 'x'.repeat(dataBytes), time: 1, term: i < messages / 2 ? 2 : 3,
  }));
  return {
    ...emptyRecord(), config: { private: true, maxSubscribers: 5, clientPublish: true, history: { size: 10_000, ttlSeconds: 60 }, presence: true, presenceEvents: false, deliverHook: false },
    bans: { troll: 123 }, epoch: 'e1', offset: messages, term: 3, promised: 3, owner: 'A', history,
    ids: Array.from({ length: ids }, (_, i) => [`id-${i}`, i + 1] as [string, number]),
  };
}

for (const [kind, make] of stores) {
  describe(`chunks into a ${kind} store`, () => {
    test('a full copy in bounded chunks arrives whole, marked complete only by the last chunk', async () => {
      const store = await make();
      await store.open();
      const source = channelRecord(3000, 300, 9000);
      const chunks = [...chunksOf(source, { mode: 'reset' })];
      assert.ok(chunks.length > 3, `expected several chunks, got ${chunks.length}`);
      for (const c of chunks) {
        assert.ok(JSON.stringify(c.msgs).length <= CHUNK_BYTES + 1024, 'message bytes per chunk are bounded');
        assert.ok(c.ids.length <= CHUNK_IDS);
      }
      for (const [i, c] of chunks.entries()) {
        await store.write(chunkOps('c', c, { promised: 4, owner: 'B' }));
        const now = await store.load('c');
        assert.equal(now.complete, i === chunks.length - 1, `complete after chunk ${i}`);
      }
      const got = await store.load('c');
      assert.deepEqual(got.history, source.history);
      assert.deepEqual(got.ids, source.ids);
      assert.deepEqual(got.config, source.config);
      assert.deepEqual(got.bans, source.bans);
      assert.deepEqual([got.epoch, got.offset, got.term, got.promised, got.owner], ['e1', 3000, 3, 4, 'B']);
      await store.close();
    });

    test('a clear removes what was stored and what the same write put before it; other channels stay', async () => {
      const store = await make();
      await store.open();
      const m = (channel: string, offset: number): Message => ({ channel, epoch: 'e', offset, data: offset, time: 1 });
      await store.write([{ type: 'append', message: m('c', 1) }, { type: 'position', channel: 'c', epoch: 'e', offset: 1, term: 1 }]);
      await store.write([
        { type: 'append', message: m('c', 2) }, { type: 'append', message: m('d', 1) },
        { type: 'clear', channel: 'c' }, { type: 'append', message: m('c', 3) },
      ]);
      assert.deepEqual((await store.load('c')).history.map((x) => x.offset), [3]);
      assert.equal((await store.load('c')).epoch, null);
      assert.deepEqual((await store.load('d')).history.map((x) => x.offset), [1]);
      await store.close();
    });

    test('a resume keeps the replica\'s messages and sends only the missing ones; a reset clears stale ones', async () => {
      const store = await make();
      await store.open();
      const source = channelRecord(50, 10, 3);
      await store.write(chunkOps('c', { mode: 'reset', from: 0, config: null, bans: { old: 1 }, msgs: source.history.slice(0, 20), ids: [],
        done: { epoch: 'e1', offset: 20, term: 3 } }, { promised: 3, owner: 'A' }));
      const resume = [...chunksOf(source, { mode: 'resume', from: 20 })];
      assert.equal(resume.reduce((n, c) => n + c.msgs.length, 0), 30, 'only offsets 21..50 travel');
      for (const c of resume) await store.write(chunkOps('c', c, { promised: 3, owner: 'A' }));
      const got = await store.load('c');
      assert.deepEqual(got.history.map((m) => m.offset), Array.from({ length: 50 }, (_, i) => i + 1));
      assert.deepEqual(got.bans, { troll: 123 }, 'bans are replaced, not merged');
      // A reset to a shorter stream of another epoch leaves nothing of the old one.
      const other = { ...channelRecord(5, 10, 0), epoch: 'e2', history: channelRecord(5, 10, 0).history.map((m) => ({ ...m, epoch: 'e2' })) };
      for (const c of chunksOf(other, { mode: 'reset' })) await store.write(chunkOps('c', c, { promised: 5, owner: 'C' }));
      const reset = await store.load('c');
      assert.deepEqual(reset.history.map((m) => `${m.epoch}:${m.offset}`), ['e2:1', 'e2:2', 'e2:3', 'e2:4', 'e2:5']);
      assert.equal(reset.ids.length, 0);
      await store.close();
    });
  });
}
