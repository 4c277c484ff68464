// A live line chart of messages in/out per second, drawn by uPlot (served by the node from the package).
import uPlot from './vendor/uPlot.esm.js';

/** Keeps the last `keep` points (one a second) and redraws on every push. */
export function rateChart(el, { keep = 300 } = {}) {
  const data = [[], [], []]; // unix seconds, in/s, out/s
  const plot = new uPlot({
    width: Math.max(300, el.clientWidth || 800),
    height: 180,
    scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.15)] } },
    axes: [{ values: (_u, splits) => splits.map((t) => new Date(t * 1000).toLocaleTimeString()) }, { size: 50 }],
    series: [
      {},
      { label: 'in/s', stroke: '#2f6fed', width: 2, fill: 'rgba(47,111,237,.08)' },
      { label: 'out/s', stroke: '#12805c', width: 2 },
    ],
    legend: { live: false },
  }, data, el);
  new ResizeObserver(() => plot.setSize({ width: Math.max(300, el.clientWidth), height: 180 })).observe(el);
  return {
    /** Adds one point; a point for a second already shown replaces it. */
    push(time, inRate, outRate) {
      const t = Math.round(time);
      if (data[0].length && data[0].at(-1) >= t) {
        if (data[0].at(-1) !== t) return;
        data[0].pop(); data[1].pop(); data[2].pop();
      }
      data[0].push(t); data[1].push(inRate); data[2].push(outRate);
      if (data[0].length > keep) for (const a of data) a.shift();
      plot.setData(data);
    },
    get points() { return data[0].length; },
  };
}
