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
import { announce, serveControl } from './control.js';

interface FayeClient { publish(channel: string, data: unknown): { then(ok: () => void, fail: (e: unknown) => void): void } }
interface FayeAdapter { attach(server: unknown): void; getClient(): FayeClient; close(): void }

const auth = `Bearer ${process.env.BENCH_API_KEY ?? 'k'}`;
let offset = 0;

const bayeux = new (faye as { NodeAdapter: new (opts: object) => FayeAdapter }).NodeAdapter({ mount: '/bayeux', timeout: 45 });
const client = bayeux.getClient();

const server = createServer((req, res) => {
  const m = /^\/v1\/channels\/([^/]+)\/messages$/.exec(req.url ?? '');
  if (req.method !== 'POST' || !m) return void res.writeHead(404).end();
  if (req.headers.authorization !== auth) return void res.writeHead(401).end();
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    let body: { data?: unknown };
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { data?: unknown };
    } catch {
      return void res.writeHead(400).end();
    }
    const channel = decodeURIComponent(m[1]!);
    const mine = ++offset;
    client.publish(`/${channel}`, body.data).then(() => {
      const answer = JSON.stringify({ channel, offset: mine });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(answer) }).end(answer);
    }, (err) => res.writeHead(500).end(String(err)));
  });
});
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
