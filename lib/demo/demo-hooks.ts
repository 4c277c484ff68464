import type { Hooks } from '../hooks/hooks.js';
import chat from './chat-hooks.js';
import { visibleTo, type GameWorld, type Snapshot } from './game-world.js';

/*
 * The hooks of `hashpub demo`: the chat hooks (chat-hooks.ts) on every channel, plus the game's:
 * - subscribe to game:state: the user gets a ship; unsubscribe: it goes.
 * - publish on game:input: the player's input is handed to the world (the game loop reads it next tick).
 * - deliver on game:state: each reader gets only what is near their own ship (visibleTo), cut per reader.
 */

/** The game's channels. */
export const GAME_STATE = 'game:state';
export const GAME_INPUT = 'game:input';

export function demoHooks(world: GameWorld, now: () => number = Date.now): Hooks {
  return {
    connect: chat.connect,
    subscribe({ user, channel }) {
      if (channel === GAME_STATE && user !== null) world.join(user, now());
      return { allow: true };
    },
    publish(ev) {
      if (ev.channel !== GAME_INPUT) return chat.publish!(ev);
      if (ev.user === null) return { allow: false, reason: 'players need a name' };
      world.input(ev.user, ev.data, now());
      return { allow: true };
    },
    deliver(ev) {
      if (ev.channel !== GAME_STATE) return chat.deliver!(ev);
      const snapshot = ev.data as Snapshot;
      return { results: ev.recipients.map((r) => ({ data: visibleTo(snapshot, r.user) })) };
    },
    unsubscribe({ user, channel }) {
      if (channel === GAME_STATE && user !== null) world.leave(user);
    },
  };
}
