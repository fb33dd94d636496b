/**
 * A line chart as SVG, for the README's picture of what Prometheus recorded
 * in the monitoring test (no browser or Grafana here to take a screenshot).
 */
export interface Line {
  readonly label: string;
  readonly points: readonly (readonly [number, number])[];
  readonly dashed?: boolean;
  /** Lines of one transport share a colour. */
  readonly colour?: number;
}

const COLOURS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b'];

export function lineChart(title: string, lines: readonly Line[], yMax: number, yLabel: (y: number) => string): string {
  const W = 760;
  const H = 360;
  const left = 60;
  const right = 200;
  const top = 40;
  const bottom = 40;
  const xs = lines.flatMap((l) => l.points.map((p) => p[0]));
  const x0 = Math.min(...xs);
  const x1 = Math.max(...xs, x0 + 1);
  const px = (x: number): number => left + ((x - x0) / (x1 - x0)) * (W - left - right);
  const py = (y: number): number => top + (1 - Math.min(y, yMax) / yMax) * (H - top - bottom);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="#ffffff"/>`,
    `<text x="${left}" y="22" font-size="14" font-weight="bold">${escape(title)}</text>`,
  ];
  for (let k = 0; k <= 4; k++) {
    const y = (yMax * k) / 4;
    out.push(`<line x1="${left}" x2="${W - right}" y1="${py(y)}" y2="${py(y)}" stroke="#dddddd"/>`, `<text x="${left - 6}" y="${py(y) + 4}" text-anchor="end">${escape(yLabel(y))}</text>`);
  }
  out.push(`<text x="${left}" y="${H - 12}">${escape(`${Math.round(x1 - x0)} s of the test run, one sample a second`)}</text>`);
  lines.forEach((l, i) => {
    const colour = COLOURS[(l.colour ?? i) % COLOURS.length]!;
    const d = l.points.map((p, k) => `${k === 0 ? 'M' : 'L'}${px(p[0]).toFixed(1)},${py(p[1]).toFixed(1)}`).join(' ');
    out.push(`<path d="${d}" fill="none" stroke="${colour}" stroke-width="2"${l.dashed ? ' stroke-dasharray="6 4"' : ''}/>`);
    const ly = top + 18 * i;
    out.push(`<line x1="${W - right + 12}" x2="${W - right + 36}" y1="${ly}" y2="${ly}" stroke="${colour}" stroke-width="2"${l.dashed ? ' stroke-dasharray="6 4"' : ''}/>`, `<text x="${W - right + 42}" y="${ly + 4}">${escape(l.label)}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

function escape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
