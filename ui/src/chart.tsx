/** A uPlot time series in a Preact component (bars of events per bucket). */
import { useEffect, useLayoutEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export interface SeriesProps {
  /** Bucket starts (RFC 3339) and counts. */
  buckets: { t: string; events: number }[];
  title: string;
  testid: string;
  /** Called once the chart has drawn. */
  onDrawn?: () => void;
  height?: number;
}

export function SeriesChart({ buckets, title, testid, onDrawn, height = 180 }: SeriesProps) {
  const el = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  // Layout effect: the chart is built before the first paint, not a frame later.
  useLayoutEffect(() => {
    const host = el.current;
    if (!host) return;
    const xs = buckets.map((b) => Date.parse(b.t) / 1000);
    const ys = buckets.map((b) => b.events);
    const data: uPlot.AlignedData = [xs, ys];
    if (plot.current) {
      plot.current.setData(data);
      return;
    }
    const width = Math.max(300, host.clientWidth || 600);
    plot.current = new uPlot({
      width, height, title, legend: { show: false },
      scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] } },
      axes: [{ stroke: '#9aa4b2', grid: { stroke: '#2a3340' } }, { stroke: '#9aa4b2', grid: { stroke: '#2a3340' } }],
      series: [{}, { label: 'events', stroke: '#f08a24', fill: 'rgba(240,138,36,0.35)', paths: uPlot.paths.bars!({ size: [0.8, 40] }), points: { show: false } }],
      hooks: { draw: [() => { host.dataset.drawn = 'true'; onDrawn?.(); }] },
    }, data, host);
  }, [buckets]);
  useEffect(() => () => { plot.current?.destroy(); plot.current = null; }, []);
  return <div class="chart" data-testid={testid} ref={el} />;
}
