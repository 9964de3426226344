/**
 * Charts as plain SVG (no chart library): horizontal bars for counts and a column chart for a time series. Sizes
 * are attributes and colours come from the stylesheet, so nothing needs an inline style.
 */
export interface Bar {
  label: string;
  value: number;
}

export function BarChart({ bars, title, unit = "" }: { bars: Bar[]; title: string; unit?: string }) {
  const max = Math.max(1, ...bars.map((bar) => bar.value));
  const row = 22;
  const width = 320;
  const labelWidth = 110;
  return (
    <figure class="chart">
      <figcaption>{title}</figcaption>
      <svg viewBox={`0 0 ${width} ${bars.length * row}`} role="img" aria-label={`${title}: ${bars.map((b) => `${b.label} ${b.value}${unit}`).join(", ")}`}>
        {bars.map((bar, index) => {
          const length = ((width - labelWidth - 60) * bar.value) / max;
          const y = index * row;
          return (
            <g key={bar.label} class={`bar bar-${index % 8}`}>
              <text x={0} y={y + 15} class="label">
                {bar.label}
              </text>
              <rect x={labelWidth} y={y + 4} width={Math.max(length, bar.value > 0 ? 2 : 0)} height={row - 8} rx={2} />
              <text x={labelWidth + length + 6} y={y + 15} class="value">
                {bar.value.toLocaleString()}
                {unit}
              </text>
            </g>
          );
        })}
      </svg>
    </figure>
  );
}

export function ColumnChart({ bars, title }: { bars: Bar[]; title: string }) {
  const max = Math.max(1, ...bars.map((bar) => bar.value));
  const height = 120;
  const top = 14;
  const column = 30;
  const width = Math.max(bars.length * column, 120);
  return (
    <figure class="chart">
      <figcaption>{title}</figcaption>
      <svg viewBox={`0 0 ${width} ${top + height + 18}`} role="img" aria-label={`${title}: ${bars.map((b) => `${b.label} ${b.value}`).join(", ")}`}>
        {bars.map((bar, index) => {
          const h = (height * bar.value) / max;
          const x = index * column;
          return (
            <g key={bar.label} class="bar bar-0">
              <rect x={x + 4} y={top + height - h} width={column - 8} height={h} rx={2}>
                <title>
                  {bar.label}: {bar.value}
                </title>
              </rect>
              {/* Every other day is labelled (MM-DD), so the labels never overlap. */}
              {(bars.length - 1 - index) % 2 === 0 ? (
                <text x={x + column / 2} y={top + height + 13} class="tick" text-anchor="middle">
                  {bar.label.slice(5)}
                </text>
              ) : null}
              {bar.value ? (
                <text x={x + column / 2} y={top + height - h - 3} class="value" text-anchor="middle">
                  {bar.value}
                </text>
              ) : null}
            </g>
          );
        })}
      </svg>
    </figure>
  );
}
