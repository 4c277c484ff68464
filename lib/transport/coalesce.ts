import type { Writable } from 'node:stream';

/*
 * Write coalescing: the first write to a stream in a tick corks it; everything written to it until the
 * tick's microtasks are done leaves in one writev when it is uncorked. A burst of frames for one socket
 * costs one syscall instead of one per frame.
 */
const corked: Writable[] = [];
let scheduled = false;

function uncorkAll(): void {
  scheduled = false;
  for (const w of corked) w.uncork();
  corked.length = 0;
}

/** Writes `chunk` to `w`, coalesced with every other write to `w` in this tick. */
export function coalescedWrite(w: Writable, chunk: Buffer | string): void {
  if (w.writableCorked === 0) {
    w.cork();
    corked.push(w);
    if (!scheduled) {
      scheduled = true;
      process.nextTick(uncorkAll);
    }
  }
  w.write(chunk);
}
