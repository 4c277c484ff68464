/**
 * Bench server child, peer: Socket.IO 4 with the WebSocket transport only (no polling, no compression),
 * every client joined to one room; `POST /v1/channels/<c>/messages` with {"data"} (Bearer key checked)
 * broadcasts `io.to(room).emit('m', data)` (encoded once by the adapter) and answers {"channel","offset"}.
 * Prints {"url"} as JSON on stdout; answers stats requests over IPC (bench/servers/control.ts).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server } from 'socket.io';
import { announce, publishEndpoint, serveControl } from './control.js';

const ROOM = 'bench';
let offset = 0;

const server = createServer();
const io = new Server(server, {
  transports: ['websocket'], serveClient: false, perMessageDeflate: false, httpCompression: false,
  cors: { origin: '*' },
});
io.on('connection', (socket) => { void socket.join(ROOM); });

// Socket.IO handles /socket.io/ itself; every other request reaches this listener.
const publish = publishEndpoint((_channel, data) => {
  io.to(ROOM).emit('m', data);
  return ++offset;
});
server.on('request', (req, res) => {
  if ((req.url ?? '').startsWith('/socket.io/')) return;
  publish(req, res);
});

serveControl(async () => {
  io.disconnectSockets(true);
  await new Promise<void>((r) => { io.close(() => r()); });
});
server.listen(0, '127.0.0.1', () => {
  const a = server.address() as AddressInfo;
  announce(`http://127.0.0.1:${a.port}`, { server: 'socketio' });
});
