import type { Logger } from 'pino';
import type { Router } from '../owner/owner-api.js';
import { userChannel } from '../protocol/names.js';
import type { HookAction } from './hooks.js';

/** Carries out the actions of a hook reply through the channels' owners; a failing action is logged, not thrown. */
export async function runActions(actions: HookAction[] | undefined, router: Router, log: Logger): Promise<void> {
  if (!actions || actions.length === 0) return;
  await Promise.all(actions.map(async (a) => {
    try {
      if (a.type === 'kick') await router.owner(a.channel).kick(a.channel, a.user, a.ban, a.reason);
      else if (a.type === 'config') await router.owner(a.channel).setConfig(a.channel, a.set);
      else if (a.type === 'disconnect') await router.owner(userChannel(a.user)).disconnectUser(a.user, a.reason);
    } catch (err) {
      log.warn({ err, action: a }, 'hook action failed');
    }
  }));
}
