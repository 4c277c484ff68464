/*
 * Run by bench/replication-choice.ts under `strace -f -c`: appends N single-entry batches to local storage, one at
 * a time, so the fsync-family syscall count per append shows whether a write is fsynced before it resolves.
 *   hypercore   one core in a corestore (hypercore-storage on RocksDB): await core.append(entry)
 *   level       a chained batch per entry, sync: false (hashpub's default, `--fsync` off)
 *   level-sync  the same with sync: true (`--fsync` on)
 *
 *   node dist/bench/replication/fsync-probe.js <hypercore|level|level-sync> <dir> <N>
 */
import Corestore from 'corestore';
import { Level } from 'level';
import { entry } from './entry.js';

async function main(): Promise<void> {
  const [kind, dir, n] = process.argv.slice(2) as [string, string, string];
  const count = Number(n);
  if (kind === 'hypercore') {
    const store = new Corestore(dir);
    const core = store.get({ name: 'probe' });
    await core.ready();
    for (let i = 0; i < count; i++) await core.append(Buffer.from(entry(0, i)));
    await store.close();
    return;
  }
  const db = new Level<string, string>(dir, { valueEncoding: 'utf8' });
  await db.open();
  for (let i = 0; i < count; i++) {
    const b = db.batch();
    b.put(`0\x00${String(i).padStart(12, '0')}`, entry(0, i));
    await b.write({ sync: kind === 'level-sync' });
  }
  await db.close();
}

main().catch((err) => { console.error(err); process.exit(1); });
