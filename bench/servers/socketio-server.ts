/**
 * Bench server child, peer: Socket.IO 4 with the WebSocket transport only (no polling, no compression),
 * every client joined to one room; `POST /v1/channels/<c>/messages` with {"data"} (Bearer key checked)
 * broadcasts `io.to(room).emit('m', data)` (encoded once by the adapter) and answers {"channel","offset"}.
 * Prints {"url"} as JSON on stdout; answers stats requests over IPC (bench/servers/control.ts).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server } from 'socket.io';
import { announce, serveControl } from './control.js';

const auth = `Bearer ${process.env.BENCH_API_KEY ?? 'k'}`;
const ROOM = 'bench';
let offset = 0;

const server = createServer();
const io = new Server(server, {
  transports: ['websocket'], serveClient: false, perMessageDeflate: false, httpCompression: false,
  cors: { origin: '*' },
});
io.on('connection', (socket) => { void socket.join(ROOM); });

// Socket.IO handles /socket.io/ itself; every other request reaches this listener.
server.on('request', (req, res) => {
  if ((req.url ?? '').startsWith('/socket.io/')) return;
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
    io.to(ROOM).emit('m', body.data);
    const answer = JSON.stringify({ channel, offset: ++offset });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(answer) }).end(answer);
  });
});

serveControl(async () => {
  io.disconnectSockets(true);
  await new Promise<void>((r) => { io.close(() => r()); });
});
server.listen(0, '127.0.0.1', () => {
  const a = server.address() as AddressInfo;
  announce(`http://127.0.0.1:${a.port}`, { server: 'socketio' });
});
