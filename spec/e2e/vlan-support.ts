// Shared steps of the virtual-LAN suites: cluster views, channels owned by a given node, publishing across a failover.
import assert from 'node:assert/strict';
import type { ApiAnswer } from '../../lib/testing/rest.js';
import { sleep, until } from './cli-cluster.js';

export { until };

/** The members of a GET /v1/cluster answer as {id, url}, sorted by id. */
export function members(body: { members: Array<{ id: string; url: string }> }): Array<{ id: string; url: string }> {
  return body.members.map(({ id, url }) => ({ id, url })).sort((a, b) => a.id.localeCompare(b.id));
}

/** Something that answers the REST API. */
interface Api { api(method: string, path: string, body?: unknown): Promise<ApiAnswer> }

/** A channel name starting with `prefix` that `via` says `owner` owns. */
export async function channelOwnedBy(via: Api, owner: string, prefix: string): Promise<string> {
  for (let i = 0; i < 500; i++) {
    const c = `${prefix}-${i}`;
    const r = await via.api('GET', `/v1/channels/${c}/owner`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    if (r.body.owner === owner) return c;
  }
  return assert.fail(`no channel owned by ${owner.slice(0, 8)} among 500`);
}

/** A REST publish that retries while the answer is 503 `unavailable` (ownership moving), up to `ms`. */
export async function publishRetrying(via: Api, channel: string, data: unknown, ms: number): Promise<{ epoch: string; offset: number; retries: number }> {
  const deadline = Date.now() + ms;
  for (let retries = 0; ; retries++) {
    const r = await via.api('POST', `/v1/channels/${channel}/messages`, { data }).catch((err: Error) => ({ status: 0, body: err.message }) as const);
    if (r.status === 200) return { ...(r.body as { epoch: string; offset: number }), retries };
    const retry = r.status === 0 || (r.status === 503 && r.body?.error?.code === 'unavailable');
    if (!retry || Date.now() > deadline) assert.fail(`publish on ${channel}: ${r.status} ${JSON.stringify(r.body)} after ${retries} retries`);
    await sleep(100);
  }
}
