/*
 * The game demo's world (an Asteroids-like arena), kept by the demo app and advanced 20 times a second. Pure:
 * no I/O, no timers; the random source is injected so tests can replay it. The app publishes `snapshot()` on
 * `game:state` every tick and the deliver hook hands each player `visibleTo(snapshot, player)`: only what is near
 * their ship (the server decides everything; clients only send inputs).
 */

export const WORLD = 3000;
/** Half the side of the square a player sees around their ship. */
export const VIEW = 700;
export const TICKS_PER_SECOND = 20;
const ROCKS = 40;
const SHIP_R = 12;
const TURN = 4.2; // rad/s
const THRUST = 260; // units/s^2
const DRAG = 0.6; // per second
const MAX_SPEED = 420;
const SHOT_SPEED = 620;
const SHOT_TICKS = 26;
const FIRE_TICKS = 5; // ticks between shots
const IDLE_MS = 60_000;

/** What a player holds down. */
export interface Input {
  /** -1 left, 0, 1 right. */
  turn: number;
  thrust: boolean;
  fire: boolean;
}
export interface Ship {
  id: string;
  x: number; y: number; a: number; vx: number; vy: number;
  score: number;
  /** Ticks until it is back after a crash (0 = flying). */
  down: number;
}
export interface Rock { id: number; x: number; y: number; vx: number; vy: number; r: number }
export interface Shot { id: number; x: number; y: number; vx: number; vy: number; ttl: number; by: string }

/** One tick as published: `t` is when the server made it (ms since the epoch), for tick-to-screen latency. */
export interface Snapshot {
  tick: number;
  t: number;
  ships: Ship[];
  rocks: Rock[];
  shots: Shot[];
}
/** What one player receives: their ship, what is within VIEW of it, and how many play. */
export interface View {
  tick: number;
  t: number;
  me: Ship | null;
  ships: Ship[];
  rocks: Rock[];
  shots: Shot[];
  players: number;
  world: number;
}

interface Player { ship: Ship; input: Input; cooldown: number; seen: number }

const wrap = (v: number) => ((v % WORLD) + WORLD) % WORLD;
/** Shortest signed distance on the wrapping axis. */
export const delta = (from: number, to: number) => {
  const d = wrap(to - from);
  return d > WORLD / 2 ? d - WORLD : d;
};
const r1 = (v: number) => Math.round(v * 10) / 10;

export class GameWorld {
  private readonly players = new Map<string, Player>();
  private rocks: Rock[] = [];
  private shots: Shot[] = [];
  private nextId = 1;
  tick = 0;

  constructor(private readonly random: () => number = Math.random) {
    for (let i = 0; i < ROCKS; i++) this.rocks.push(this.rock(40));
  }

  get playerCount(): number {
    return this.players.size;
  }

  /** A player joins (or is already in). */
  join(id: string, now: number): void {
    if (this.players.has(id)) return;
    this.players.set(id, { ship: this.spawn(id), input: { turn: 0, thrust: false, fire: false }, cooldown: 0, seen: now });
  }

  leave(id: string): void {
    this.players.delete(id);
  }

  /** The latest input of a player (joins them if needed). Anything malformed counts as "nothing held". */
  input(id: string, raw: unknown, now: number): void {
    this.join(id, now);
    const p = this.players.get(id)!;
    const o = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>;
    const turn = Number(o.turn);
    p.input = { turn: turn < 0 ? -1 : turn > 0 ? 1 : 0, thrust: o.thrust === true, fire: o.fire === true };
    p.seen = now;
  }

  /** Advances the world one tick (1/20 s). */
  step(now: number): Snapshot {
    const dt = 1 / TICKS_PER_SECOND;
    this.tick++;
    for (const [id, p] of this.players) {
      if (now - p.seen > IDLE_MS) { this.players.delete(id); continue; }
      const s = p.ship;
      if (s.down > 0) { if (--s.down === 0) Object.assign(s, this.spawn(id), { score: s.score }); continue; }
      s.a += p.input.turn * TURN * dt;
      if (p.input.thrust) { s.vx += Math.cos(s.a) * THRUST * dt; s.vy += Math.sin(s.a) * THRUST * dt; }
      const f = Math.max(0, 1 - DRAG * dt);
      s.vx *= f; s.vy *= f;
      const speed = Math.hypot(s.vx, s.vy);
      if (speed > MAX_SPEED) { s.vx *= MAX_SPEED / speed; s.vy *= MAX_SPEED / speed; }
      s.x = wrap(s.x + s.vx * dt); s.y = wrap(s.y + s.vy * dt);
      if (p.cooldown > 0) p.cooldown--;
      if (p.input.fire && p.cooldown === 0) {
        p.cooldown = FIRE_TICKS;
        this.shots.push({ id: this.nextId++, x: s.x, y: s.y, vx: s.vx + Math.cos(s.a) * SHOT_SPEED, vy: s.vy + Math.sin(s.a) * SHOT_SPEED, ttl: SHOT_TICKS, by: id });
      }
    }
    for (const r of this.rocks) { r.x = wrap(r.x + r.vx * dt); r.y = wrap(r.y + r.vy * dt); }
    for (const sh of this.shots) { sh.x = wrap(sh.x + sh.vx * dt); sh.y = wrap(sh.y + sh.vy * dt); sh.ttl--; }
    this.collide();
    this.shots = this.shots.filter((s) => s.ttl > 0);
    return this.snapshot(now);
  }

  snapshot(now: number): Snapshot {
    const ship = (s: Ship): Ship => ({ ...s, x: r1(s.x), y: r1(s.y), a: Math.round(s.a * 100) / 100, vx: r1(s.vx), vy: r1(s.vy) });
    return {
      tick: this.tick, t: now,
      ships: [...this.players.values()].map((p) => ship(p.ship)),
      rocks: this.rocks.map((r) => ({ ...r, x: r1(r.x), y: r1(r.y), vx: r1(r.vx), vy: r1(r.vy) })),
      shots: this.shots.map((s) => ({ ...s, x: r1(s.x), y: r1(s.y), vx: r1(s.vx), vy: r1(s.vy) })),
    };
  }

  private collide(): void {
    for (const sh of this.shots) {
      const hit = this.rocks.find((r) => near(sh, r, r.r));
      if (!hit) continue;
      sh.ttl = 0;
      const p = this.players.get(sh.by);
      if (p) p.ship.score += 1;
      this.rocks.splice(this.rocks.indexOf(hit), 1);
      if (hit.r > 20) for (let i = 0; i < 2; i++) this.rocks.push({ ...this.rock(hit.r / 2), x: hit.x, y: hit.y });
    }
    while (this.rocks.length < ROCKS) this.rocks.push(this.rock(40));
    for (const p of this.players.values()) {
      const s = p.ship;
      if (s.down === 0 && this.rocks.some((r) => near(s, r, r.r + SHIP_R))) {
        s.down = TICKS_PER_SECOND * 2;
        s.vx = 0; s.vy = 0;
      }
    }
  }

  /** A new ship appears near another player's (so newcomers meet people), or anywhere when alone. */
  private spawn(id: string): Ship {
    const others = [...this.players.values()].filter((p) => p.ship.id !== id);
    const near = others.length ? others[Math.floor(this.random() * others.length)]!.ship : null;
    const a = this.random() * Math.PI * 2;
    const d = 150 + this.random() * 150;
    const x = near ? wrap(near.x + Math.cos(a) * d) : this.random() * WORLD;
    const y = near ? wrap(near.y + Math.sin(a) * d) : this.random() * WORLD;
    return { id, x, y, a: -Math.PI / 2, vx: 0, vy: 0, score: 0, down: 0 };
  }

  private rock(r: number): Rock {
    const a = this.random() * Math.PI * 2;
    const v = 30 + this.random() * 60;
    return { id: this.nextId++, x: this.random() * WORLD, y: this.random() * WORLD, vx: Math.cos(a) * v, vy: Math.sin(a) * v, r };
  }
}

function near(a: { x: number; y: number }, b: { x: number; y: number }, d: number): boolean {
  const dx = delta(a.x, b.x);
  const dy = delta(a.y, b.y);
  return dx * dx + dy * dy < d * d;
}

/** What `player` sees of a snapshot: everything within VIEW of their ship (the whole world's centre if they have none). */
export function visibleTo(s: Snapshot, player: string | null): View {
  const me = s.ships.find((x) => x.id === player) ?? null;
  const cx = me?.x ?? WORLD / 2;
  const cy = me?.y ?? WORLD / 2;
  const inView = (o: { x: number; y: number }) => Math.abs(delta(cx, o.x)) <= VIEW && Math.abs(delta(cy, o.y)) <= VIEW;
  return {
    tick: s.tick, t: s.t, me,
    ships: s.ships.filter((x) => x.id !== player && inView(x)),
    rocks: s.rocks.filter(inView),
    shots: s.shots.filter(inView),
    players: s.ships.length,
    world: WORLD,
  };
}
