/**
 * Bench server child, peer: Faye 1.4 (Bayeux), a NodeAdapter mounted at /bayeux on a plain http server, in-memory
 * engine, default settings. `POST /v1/channels/<c>/messages` with {"data"} (Bearer key checked) publishes on
 * Bayeux channel /<c> through the adapter's server-side client and answers {"channel","offset"} once Faye has
 * accepted the publication. Prints {"url"} as JSON on stdout; answers stats requests over IPC.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
// @ts-expect-error faye ships no type declarations
import faye from 'faye';
import { announce, publishEndpoint, serveControl } from './control.js';

interface FayeClient { publish(channel: string, data: unknown): { then(ok: () => void, fail: (e: unknown) => void): void } }
interface FayeAdapter { attach(server: unknown): void; getClient(): FayeClient; close(): void }

let offset = 0;

const bayeux = new (faye as { NodeAdapter: new (opts: object) => FayeAdapter }).NodeAdapter({ mount: '/bayeux', timeout: 45 });
const client = bayeux.getClient();

const server = createServer(publishEndpoint((channel, data) => {
  const mine = ++offset;
  return new Promise<number>((resolve, reject) => client.publish(`/${channel}`, data).then(() => resolve(mine), reject));
}));
// attach() takes over /bayeux (HTTP and WebSocket upgrades) and hands other requests to the listener above.
bayeux.attach(server);

serveControl(async () => {
  bayeux.close();
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
});
server.listen(0, '127.0.0.1', () => {
  const a = server.address() as AddressInfo;
  announce(`http://127.0.0.1:${a.port}`, { server: 'faye' });
});
