import WebSocket from 'ws';

type Frame = Record<string, unknown> & { type: string };

/**
 * A small WebSocket client for tests and examples: collects every server frame and lets a test wait
 * for the next one that matches, with a deadline (no sleeps).
 */
export class TestClient {
  readonly frames: Frame[] = [];
  readonly ws: WebSocket;
  private cursor = 0;
  private waiters: Array<() => void> = [];
  private nextId = 1;
  closed: { code: number; reason: string } | null = null;
  readonly opened: Promise<void>;

  constructor(url: string, opts: WebSocket.ClientOptions = {}) {
    this.ws = new WebSocket(url, opts);
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('error', reject);
      this.ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    });
    this.ws.on('error', () => {});
    this.ws.on('message', (data) => {
      this.frames.push(JSON.parse(data.toString()));
      this.wake();
    });
    this.ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      this.wake();
    });
  }

  /** Opens a client and completes `connect`; resolves with the `connected` frame. */
  static async connect(baseUrl: string, connect: { token?: string; session?: string } = {}): Promise<{ client: TestClient; connected: Frame }> {
    const client = new TestClient(baseUrl.replace(/^http/, 'ws') + '/v1/ws');
    await client.opened;
    client.send({ type: 'connect', ...connect });
    const connected = await client.next((f) => f.type === 'connected' || f.type === 'error');
    if (connected.type === 'error') throw Object.assign(new Error(`connect refused: ${connected.code}`), { frame: connected });
    return { client, connected };
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  /** Sends a request frame with a fresh id; resolves with the answer that carries that id. */
  async request(frame: Record<string, unknown>): Promise<Frame> {
    const id = this.nextId++;
    this.send({ ...frame, id });
    return this.next((f) => f.id === id);
  }

  subscribe(channel: string, since?: { epoch: string; offset: number }): Promise<Frame> {
    return this.request({ type: 'subscribe', channel, ...(since ? { since } : {}) });
  }

  /** The next frame (after those already taken) matching `pred`; frames skipped stay available to `all()`. */
  async next(pred: (f: Frame) => boolean = () => true, timeoutMs = 5000): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      for (; this.cursor < this.frames.length; this.cursor++) {
        const f = this.frames[this.cursor]!;
        if (pred(f)) { this.cursor++; return f; }
      }
      if (this.closed) throw new Error(`connection closed (${this.closed.code} ${this.closed.reason}) while waiting`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no matching frame within ${timeoutMs} ms; got: ${JSON.stringify(this.frames.slice(-5))}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => { clearTimeout(t); resolve(); });
      });
    }
  }

  /** Messages received so far on `channel`. */
  messages(channel: string): Frame[] {
    return this.frames.filter((f) => f.type === 'message' && f.channel === channel);
  }

  /** Waits until `n` messages of `channel` arrived. */
  async waitMessages(channel: string, n: number, timeoutMs = 5000): Promise<Frame[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.messages(channel).length < n) {
      if (Date.now() > deadline) throw new Error(`got ${this.messages(channel).length}/${n} messages on ${channel}`);
      if (this.closed) throw new Error(`connection closed (${this.closed.code}) with ${this.messages(channel).length}/${n} messages`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 50);
        this.waiters.push(() => { clearTimeout(t); resolve(); });
      });
    }
    return this.messages(channel);
  }

  /** Resolves when the server has closed the connection. */
  async waitClosed(timeoutMs = 5000): Promise<{ code: number; reason: string }> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error('connection still open');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 50);
        this.waiters.push(() => { clearTimeout(t); resolve(); });
      });
    }
    return this.closed;
  }

  close(): void {
    this.ws.terminate();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}
