/** Markdown-style tables for the benches' printed summaries and bench/results/README.md. */

/** A number with `d` decimals, or "-" when missing. */
export const fmt = (v: number | null | undefined, d: number) => (v === null || v === undefined ? '-' : v.toFixed(d));

/** A table with a header row, a rule and one line a row; columns padded to their widest cell. */
export function renderTable(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => '| ' + cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ') + ' |';
  return [line(head), '|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|', ...rows.map(line)].join('\n');
}
