/** The history entry every replication-choice backend stores: a ~200-byte JSON string, as the owner keeps it. */
const PAD = 'x'.repeat(120);

export function entry(ch: number, offset: number): string {
  return JSON.stringify({ channel: `ch-${ch}`, offset, time: Date.now(), data: { user: `u-${offset % 97}`, text: PAD } });
}
