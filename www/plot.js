// A small handwritten SVG plot: bars for the seconds between consecutive
// blocks, a line for their difficulty.

const NS = 'http://www.w3.org/2000/svg';
const H = 160, LEFT = 34, RIGHT = 34, TOP = 10, BOTTOM = 20;

function el(name, attrs, text) {
  const node = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

/// Draws `blocks` (oldest first, consecutive heights) into the <svg> `svg`;
/// `isMine(block)` highlights this tab's blocks.
export function drawPlot(svg, blocks, isMine) {
  svg.replaceChildren();
  // One user unit per CSS pixel, so text is never stretched.
  const W = Math.max(200, Math.round(svg.clientWidth || 600));
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
  const points = [];
  for (let i = 1; i < blocks.length; i++) {
    const b = blocks[i], prev = blocks[i - 1];
    if (b.index !== prev.index + 1 || prev.timestamp === 0) continue;
    points.push({ block: b, secs: Math.max(0, (b.timestamp - prev.timestamp) / 1000) });
  }
  const innerW = W - LEFT - RIGHT, innerH = H - TOP - BOTTOM;
  svg.append(el('line', { class: 'axis', x1: LEFT, y1: H - BOTTOM, x2: W - RIGHT, y2: H - BOTTOM }));
  if (points.length === 0) {
    svg.append(el('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle' }, 'waiting for blocks…'));
    return;
  }
  const maxSecs = Math.max(1, ...points.map((p) => p.secs));
  const diffs = points.map((p) => p.block.difficulty);
  const dMin = Math.min(...diffs) - 1, dMax = Math.max(...diffs) + 1;
  const step = innerW / points.length;
  const line = [];
  points.forEach((p, i) => {
    const h = (p.secs / maxSecs) * innerH;
    const x = LEFT + i * step;
    const bar = el('rect', {
      class: isMine(p.block) ? 'bar mine' : 'bar',
      x: x + step * 0.15, y: H - BOTTOM - h, width: Math.max(1, step * 0.7), height: Math.max(0.5, h),
    });
    bar.append(el('title', {}, `#${p.block.index}: ${p.secs.toFixed(2)} s, difficulty ${p.block.difficulty}`));
    svg.append(bar);
    const y = TOP + innerH - ((p.block.difficulty - dMin) / (dMax - dMin)) * innerH;
    line.push(`${(x + step / 2).toFixed(1)},${y.toFixed(1)}`);
  });
  svg.append(el('polyline', { class: 'diff', points: line.join(' ') }));
  svg.append(el('text', { x: 2, y: TOP + 8 }, `${maxSecs.toFixed(1)} s`));
  svg.append(el('text', { x: 2, y: H - BOTTOM }, '0 s'));
  svg.append(el('text', { x: W - RIGHT + 4, y: TOP + 8 }, `${dMax} b`));
  svg.append(el('text', { x: W - RIGHT + 4, y: H - BOTTOM }, `${dMin} b`));
  svg.append(el('text', { x: LEFT, y: H - 4 }, `#${points[0].block.index}`));
  svg.append(el('text', { x: W - RIGHT, y: H - 4, 'text-anchor': 'end' }, `#${points[points.length - 1].block.index}`));
}
