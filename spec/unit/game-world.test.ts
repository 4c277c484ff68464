// The game demo's world and hooks: inputs move ships, shots fly, and each reader gets only what is near their ship.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { demoHooks, GAME_INPUT, GAME_STATE } from '../../lib/demo/demo-hooks.js';
import { delta, GameWorld, VIEW, visibleTo, WORLD, type Snapshot } from '../../lib/demo/game-world.js';
import { HookRunner } from '../../lib/hooks/hook-runner.js';

/** A repeatable random source. */
function seeded(seed: number): () => number {
  return () => ((seed = (seed * 16807) % 2147483647) - 1) / 2147483646;
}

test('distances wrap around the world', () => {
  assert.equal(delta(10, WORLD - 10), -20);
  assert.equal(delta(WORLD - 10, 10), 20);
  assert.equal(delta(100, 400), 300);
});

test('thrust moves a ship, turning turns it, fire shoots; malformed input holds nothing', () => {
  const w = new GameWorld(seeded(7));
  w.join('ace', 0);
  const start = w.snapshot(0).ships[0]!;
  w.input('ace', { thrust: true, turn: 1, fire: true }, 0);
  let s: Snapshot = w.step(50);
  for (let i = 0; i < 10; i++) s = w.step(100 + i * 50);
  const ship = s.ships.find((x) => x.id === 'ace')!;
  assert.notEqual(ship.a, start.a, 'turned');
  assert.ok(Math.hypot(ship.vx, ship.vy) > 0 || ship.down > 0, 'moving (or crashed into a rock)');
  assert.ok(s.shots.some((x) => x.by === 'ace') || ship.score > 0, 'fired');
  w.input('ace', 'garbage', 700);
  const held = w.snapshot(700).ships[0]!;
  const after = w.step(750).ships[0]!;
  assert.equal(after.a, held.a, 'a malformed input turns nothing');
});

test('a newcomer spawns near another player; a leaver is gone', () => {
  const w = new GameWorld(seeded(3));
  w.join('a', 0);
  w.join('b', 0);
  const [a, b] = w.snapshot(0).ships;
  assert.ok(Math.abs(delta(a!.x, b!.x)) <= 300 && Math.abs(delta(a!.y, b!.y)) <= 300);
  w.leave('a');
  assert.deepEqual(w.snapshot(0).ships.map((s) => s.id), ['b']);
});

test('visibleTo keeps what is within VIEW of the reader\'s ship, across the wrap edge', () => {
  const ship = (id: string, x: number, y: number) => ({ id, x, y, a: 0, vx: 0, vy: 0, score: 0, down: 0 });
  const s: Snapshot = {
    tick: 1, t: 5,
    ships: [ship('me', 10, 10), ship('near', WORLD - 50, 20), ship('far', WORLD / 2, WORLD / 2)],
    rocks: [{ id: 1, x: 10 + VIEW, y: 10, vx: 0, vy: 0, r: 40 }, { id: 2, x: 10 + VIEW + 1, y: 10, vx: 0, vy: 0, r: 40 }],
    shots: [],
  };
  const v = visibleTo(s, 'me');
  assert.equal(v.me?.id, 'me');
  assert.deepEqual(v.ships.map((x) => x.id), ['near']);
  assert.deepEqual(v.rocks.map((r) => r.id), [1]);
  assert.equal(v.players, 3);
  assert.equal(visibleTo(s, 'nobody').me, null);
});

test('demo hooks: inputs reach the world, state is cut per reader, chat still translates', async () => {
  const w = new GameWorld(seeded(11));
  const hooks = new HookRunner(demoHooks(w, () => 0));
  assert.deepEqual(await hooks.subscribe({ user: 'p1', claims: {}, channel: GAME_STATE }), { allow: true });
  assert.equal((await hooks.publish({ user: 'p2', claims: {}, channel: GAME_INPUT, data: { thrust: true } })).allow, true);
  assert.equal((await hooks.publish({ user: null, claims: {}, channel: GAME_INPUT, data: {} })).allow, false);
  const snap = w.step(50);
  assert.deepEqual(snap.ships.map((s) => s.id).sort(), ['p1', 'p2']);
  const reply = await hooks.deliver({ channel: GAME_STATE, data: snap, recipients: [{ user: 'p1', info: {} }, { user: 'p2', info: {} }] });
  const views = reply!.results.map((r) => r.data as ReturnType<typeof visibleTo>);
  assert.deepEqual(views.map((v) => v.me?.id), ['p1', 'p2']);
  assert.deepEqual(views.map((v) => v.ships.map((s) => s.id)), [['p2'], ['p1']], 'each sees the other (they spawned near)');
  const chat = await hooks.deliver({ channel: 'chat:lobby', data: { text: 'hello' }, recipients: [{ user: 'x', info: { lang: 'es' } }] });
  assert.deepEqual(chat!.results, [{ data: { text: 'hola', lang: 'es' } }]);
  await hooks.unsubscribe({ user: 'p1', channel: GAME_STATE, reason: 'goodbye' });
  assert.deepEqual(w.snapshot(0).ships.map((s) => s.id), ['p2']);
});
