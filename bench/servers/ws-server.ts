/**
 * Bench server child, the floor: the `ws` package alone. A WebSocketServer on a plain http server at
 * /v1/ws; `POST /v1/channels/<c>/messages` with {"data"} (Bearer key checked) broadcasts one JSON string
 * {"type":"message","channel","offset","data"} to every open socket with ws.send, then answers
 * {"channel","offset"}. No channels, sessions, storage or framing tricks: what plain `ws` costs.
 * Prints {"url"} as JSON on stdout; answers stats requests over IPC. Env: BENCH_API_KEY (default "k").
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, WebSocket } from 'ws';
import { announce, publishEndpoint, serveControl } from './control.js';

let offset = 0;

const server = createServer(publishEndpoint((channel, data) => {
  const text = JSON.stringify({ type: 'message', channel, offset: ++offset, data });
  for (const ws of wss.clients) if (ws.readyState === WebSocket.OPEN) ws.send(text);
  return offset;
}));
const wss = new WebSocketServer({ server, path: '/v1/ws', perMessageDeflate: false });
wss.on('connection', (ws) => ws.on('error', () => {}));

serveControl(async () => {
  for (const ws of wss.clients) ws.terminate();
  await new Promise<void>((r) => server.close(() => r()));
});
server.listen(0, '127.0.0.1', () => {
  const a = server.address() as AddressInfo;
  announce(`http://127.0.0.1:${a.port}`, { server: 'ws' });
});
