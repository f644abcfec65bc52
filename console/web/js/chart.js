// Live line charts on uPlot: a fixed window of points per series.
import uPlot from '../vendor/uPlot.esm.js';

export class LiveChart {
  constructor(parent, title, names, windowPoints = 90) {
    this.names = names;
    this.max = windowPoints;
    this.data = [[], ...names.map(() => [])];
    const colors = ['#3b5bdb', '#e8590c', '#2b8a3e', '#ae3ec9', '#1098ad', '#f08c00', '#c2255c', '#5c940d', '#495057'];
    const width = Math.max(260, Math.min(parent.clientWidth || 600, 1380) - 16);
    this.plot = new uPlot({
      title, width, height: 200,
      series: [{}, ...names.map((n, i) => ({ label: n, stroke: colors[i % colors.length], width: 2 }))],
      axes: [{}, { size: 60 }],
      scales: { x: { time: true, range: (_u, lo, hi) => [Math.min(lo, hi - 60), hi] } },
    }, this.data, parent);
    this.onResize = () => this.plot.setSize({ width: Math.max(260, Math.min(parent.clientWidth, 1380) - 16), height: 200 });
    window.addEventListener('resize', this.onResize);
  }

  push(t, values) {
    this.data[0].push(t);
    values.forEach((v, i) => this.data[i + 1].push(v));
    if (this.data[0].length > this.max) this.data.forEach((s) => s.shift());
    this.plot.setData(this.data);
  }

  destroy() {
    window.removeEventListener('resize', this.onResize);
    this.plot.destroy();
  }
}
