import type { NodeHandle } from './rest.js';

/** A user appearing in or leaving a channel's presence, and when the watcher saw it. */
export interface PresenceChange { at: number; join?: string; leave?: string }

/**
 * Watches `GET /v1/channels/{channel}/presence` (the owner's member set: what an app sees) every `everyMs`
 * and records when each user appears and disappears. Independent of presence events and their batching.
 */
export function watchPresence(node: Pick<NodeHandle, 'api'>, channel: string, everyMs = 10) {
  const changes: PresenceChange[] = [];
  let members = new Set<string>();
  let running = true;
  const loop = (async () => {
    while (running) {
      const r = await node.api('GET', `/v1/channels/${encodeURIComponent(channel)}/presence?limit=1000`).catch(() => null);
      if (r?.status === 200) {
        const now = new Set<string>(r.body.users as string[]);
        const at = Date.now();
        for (const u of now) if (!members.has(u)) changes.push({ at, join: u });
        for (const u of members) if (!now.has(u)) changes.push({ at, leave: u });
        members = now;
      }
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return {
    changes,
    /** The users present at the last look. */
    members: () => [...members].sort(),
    joinsOf: (user: string) => changes.filter((c) => c.join === user),
    leaveOf: (user: string) => changes.find((c) => c.leave === user),
    async stop() { running = false; await loop; },
  };
}
