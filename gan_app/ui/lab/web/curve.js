// The class's Real or fake? curve for the presenter: the class's accuracy and D's, per model
// version of the live run (by step), on one canvas, with chance (50%) marked. Points carry
// {step, class, d} (either may be null: no answers yet, D not measured yet).

const SERIES = [["class", "#ff4b4b", "the class"], ["d", "#4e79a7", "D"]];
const PAD = { left: 36, right: 10, top: 18, bottom: 22 };

export function drawCurve(canvas, points) {
  const ctx = canvas.getContext("2d");
  const w = (canvas.width = 420), h = (canvas.height = 220);
  ctx.fillStyle = "#111";
  ctx.fillRect(0, 0, w, h);
  const steps = points.map((p) => p.step);
  const lo = Math.min(...steps, 0), hi = Math.max(...steps, lo + 1);
  const x = (step) => PAD.left + ((step - lo) / (hi - lo)) * (w - PAD.left - PAD.right);
  const y = (acc) => h - PAD.bottom - acc * (h - PAD.top - PAD.bottom);
  ctx.font = "11px sans-serif";
  ctx.fillStyle = "#bbb";
  ctx.strokeStyle = "rgba(200, 200, 200, 0.35)";
  for (const acc of [0, 0.5, 1]) {
    ctx.setLineDash(acc === 0.5 ? [4, 4] : []);
    ctx.beginPath();
    ctx.moveTo(PAD.left, y(acc));
    ctx.lineTo(w - PAD.right, y(acc));
    ctx.stroke();
    ctx.fillText(`${Math.round(acc * 100)}%`, 4, y(acc) + 4);
  }
  ctx.setLineDash([]);
  ctx.fillText(`step ${lo.toLocaleString()}`, PAD.left, h - 6);
  const right = `step ${hi.toLocaleString()}`;
  ctx.fillText(right, w - PAD.right - ctx.measureText(right).width, h - 6);
  SERIES.forEach(([field, colour, label], k) => {
    const shown = points.filter((p) => p[field] != null);
    ctx.strokeStyle = ctx.fillStyle = colour;
    ctx.lineWidth = 2;
    ctx.beginPath();
    shown.forEach((p, i) => (i ? ctx.lineTo(x(p.step), y(p[field])) : ctx.moveTo(x(p.step), y(p[field]))));
    ctx.stroke();
    for (const p of shown) ctx.fillRect(x(p.step) - 2.5, y(p[field]) - 2.5, 5, 5);
    ctx.fillText(label, PAD.left + 8 + k * 80, 12);
  });
  canvas.dataset.points = String(points.length);
}
