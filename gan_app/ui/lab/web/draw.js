// Pictures in the page: images in [0, 1] (n*28*28 floats) onto canvases as strips and grids
// that tell which sample was clicked, D's verdict as a frame, and the latent-norm plot.

const SIDE = 28;

/** Draws n images in rows x cols onto `canvas` (28 px a cell, scaled by CSS, pixelated). */
export function paint(canvas, images, cols, gap = 1) {
  const n = images.length / (SIDE * SIDE);
  const rows = Math.ceil(n / cols);
  canvas.width = cols * SIDE + (cols - 1) * gap;
  canvas.height = rows * SIDE + (rows - 1) * gap;
  const ctx = canvas.getContext("2d");
  const out = ctx.createImageData(canvas.width, canvas.height);
  out.data.fill(255);
  for (let k = 0; k < n; k++) {
    const ox = (k % cols) * (SIDE + gap), oy = Math.floor(k / cols) * (SIDE + gap);
    for (let y = 0; y < SIDE; y++) {
      for (let x = 0; x < SIDE; x++) {
        const v = Math.round(255 * images[k * SIDE * SIDE + y * SIDE + x]);
        const p = ((oy + y) * canvas.width + ox + x) * 4;
        out.data[p] = out.data[p + 1] = out.data[p + 2] = v;
      }
    }
  }
  ctx.putImageData(out, 0, 0);
  canvas.dataset.rows = rows;
  canvas.dataset.cols = cols;
  canvas.dataset.drawn = String(Number(canvas.dataset.drawn || 0) + 1);
}

/** The index (row by row) of the cell under a click on a painted canvas. */
export function cellAt(canvas, event) {
  const r = canvas.getBoundingClientRect();
  const rows = Number(canvas.dataset.rows), cols = Number(canvas.dataset.cols);
  const col = Math.min(cols - 1, Math.max(0, Math.floor(((event.clientX - r.left) / r.width) * cols)));
  const row = Math.min(rows - 1, Math.max(0, Math.floor(((event.clientY - r.top) / r.height) * rows)));
  return row * cols + col;
}

/** |z| along lerp and slerp paths, with the typical norm dashed: a small line plot. */
export function normPlot(canvas, series, typical) {
  const ctx = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height, pad = 28;
  ctx.clearRect(0, 0, w, h);
  const all = [typical, ...Object.values(series).flat()];
  const lo = Math.min(...all) * 0.9, hi = Math.max(...all) * 1.05;
  const n = Math.max(...Object.values(series).map((s) => s.length));
  const x = (i) => pad + (i / Math.max(1, n - 1)) * (w - pad - 8);
  const y = (v) => h - pad + 8 - ((v - lo) / (hi - lo)) * (h - pad - 4);
  ctx.font = "11px sans-serif";
  ctx.fillStyle = "#555";
  ctx.fillText(hi.toFixed(1), 2, 12);
  ctx.fillText(lo.toFixed(1), 2, h - pad + 8);
  ctx.fillText("step along the path", w / 2 - 45, h - 4);
  ctx.setLineDash([5, 4]);
  ctx.strokeStyle = "#888";
  ctx.beginPath(); ctx.moveTo(pad, y(typical)); ctx.lineTo(w - 8, y(typical)); ctx.stroke();
  ctx.fillText(`typical |z| ${typical.toFixed(1)}`, w - 120, y(typical) - 4);
  ctx.setLineDash([]);
  const colours = ["#1f77b4", "#d62728"];
  Object.entries(series).forEach(([name, values], j) => {
    ctx.strokeStyle = ctx.fillStyle = colours[j % colours.length];
    ctx.beginPath();
    values.forEach((v, i) => (i ? ctx.lineTo(x(i), y(v)) : ctx.moveTo(x(i), y(v))));
    ctx.stroke();
    ctx.fillText(name, pad + 6 + 50 * j, 12);
  });
}
