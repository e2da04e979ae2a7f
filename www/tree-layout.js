// Where each block of the network view goes: a pure function from the rows
// of GET /tree (and the tips to label) to positions, with no DOM.
//
// Heights run left to right, one column each; the best chain is lane 0, a
// straight line; each side branch takes a lane below it (a branch goes on
// in its parent's lane, a new one takes the first lane free for its
// heights). Tip labels sit above their block (shifted left at the right
// edge), in as many rows as keep them from overlapping; an edge runs from
// each block to its parent.

export const GEOMETRY = Object.freeze({
  width: 1200,    // of the SVG's viewBox
  padX: 16,
  axisH: 20,      // the row of heights at the top
  maxCol: 64,     // widest column
  blockW: 40,     // widest block
  blockH: 22,
  labelH: 16,     // one row of tip labels
  laneGap: 16,
  charW: 6.2,     // width of a label character at the label's font size
});

/// Lays out `rows` (GET /tree's blocks: index, hash, prev_hash, branch, …)
/// with `tips` ({hash, text, …}: labels to put on the block of that hash).
/// Only the top `heights` heights are drawn. Returns {width, height,
/// columns: [{index, x}], blocks: [{row, x, y, w, h, lane, labels}],
/// edges: [{hash, d, stub}], unplaced: [tips whose block is not drawn]}.
export function layoutTree(rows, tips, { heights = 30 } = {}) {
  const g = GEOMETRY;
  if (rows.length === 0) {
    return { width: g.width, height: g.axisH, columns: [], blocks: [], edges: [], unplaced: [...tips] };
  }
  const top = Math.max(...rows.map((r) => r.index));
  const low = Math.max(Math.min(...rows.map((r) => r.index)), top - heights + 1);
  const shown = rows.filter((r) => r.index >= low);
  const count = top - low + 1;
  const col = Math.min(g.maxCol, (g.width - 2 * g.padX) / count);
  const blockW = Math.min(g.blockW, col - 12);
  const xOf = (index) => g.padX + (index - low) * col + (col - blockW) / 2;

  const lane = assignLanes(shown);
  const lanes = 1 + Math.max(0, ...lane.values());

  // Tip labels, per lane, in rows that keep them apart.
  const byHash = new Map(shown.map((r) => [r.hash, r]));
  const labelsOf = new Map();
  const unplaced = [];
  const perLane = Array.from({ length: lanes }, () => []);
  for (const tip of tips) {
    const row = byHash.get(tip.hash);
    if (!row) { unplaced.push(tip); continue; }
    // It starts at its block, or further left where the view ends.
    const w = tip.text.length * g.charW + 12;
    const label = { tip, x: Math.min(xOf(row.index), g.width - g.padX / 2 - w), w, slot: 0 };
    perLane[lane.get(row.hash)].push(label);
    if (!labelsOf.has(row.hash)) labelsOf.set(row.hash, []);
    labelsOf.get(row.hash).push(label);
  }
  const slots = perLane.map(placeLabels);

  // Each lane: its labels' rows, then its blocks.
  const blockY = [];
  let y = g.axisH;
  for (let l = 0; l < lanes; l++) {
    blockY.push(y + slots[l] * g.labelH);
    y += slots[l] * g.labelH + g.blockH + g.laneGap;
  }

  const blocks = shown.map((row) => {
    const x = xOf(row.index);
    const top = blockY[lane.get(row.hash)];
    const labels = (labelsOf.get(row.hash) ?? []).map((l) => ({ ...l, y: top - (l.slot + 1) * g.labelH }));
    return { row, x, y: top, w: blockW, h: g.blockH, lane: lane.get(row.hash), labels };
  });
  const at = new Map(blocks.map((b) => [b.row.hash, b]));
  const edges = blocks.map((b) => {
    const parent = at.get(b.row.prev_hash);
    const [cx, cy] = [b.x, b.y + b.h / 2];
    if (!parent) {
      // Its parent is below the view (or genesis has none).
      return b.row.index === 0 ? null : { hash: b.row.hash, d: `M${cx} ${cy}H${cx - (col - blockW)}`, stub: true };
    }
    const [px, py] = [parent.x + parent.w, parent.y + parent.h / 2];
    const mx = (cx + px) / 2;
    const d = cy === py ? `M${cx} ${cy}L${px} ${py}` : `M${cx} ${cy}C${mx} ${cy} ${mx} ${py} ${px} ${py}`;
    return { hash: b.row.hash, d, stub: false };
  }).filter(Boolean);
  const columns = Array.from({ length: count }, (_, i) => ({ index: low + i, x: xOf(low + i) + blockW / 2 }));
  return { width: g.width, height: y, columns, blocks, edges, unplaced };
}

/// Lane of each row: 0 for the best chain; a side block goes on in its
/// parent's side lane (its first child only) or takes the first lane with
/// a free column before it.
function assignLanes(rows) {
  const lane = new Map();
  for (const r of rows) if (r.branch === 'best') lane.set(r.hash, 0);
  const byHash = new Map(rows.map((r) => [r.hash, r]));
  const laneEnd = [Infinity]; // the last height used in each lane
  const continued = new Set();
  const side = rows.filter((r) => r.branch !== 'best').sort((a, b) => a.index - b.index);
  for (const r of side) {
    const parent = byHash.get(r.prev_hash);
    const parentLane = parent ? lane.get(parent.hash) : undefined;
    let l;
    if (parentLane > 0 && laneEnd[parentLane] === parent.index && !continued.has(parent.hash)) {
      l = parentLane;
      continued.add(parent.hash);
    } else {
      l = laneEnd.findIndex((end, i) => i > 0 && end < r.index - 1);
      if (l < 0) l = laneEnd.length;
    }
    laneEnd[l] = r.index;
    lane.set(r.hash, l);
  }
  return lane;
}

/// Gives each label of one lane a row (`slot`, 0 nearest its block) so
/// that no two in a row overlap; returns how many rows it takes.
function placeLabels(labels) {
  const ends = []; // right edge of the last label in each row
  labels.sort((a, b) => a.x - b.x);
  for (const label of labels) {
    let slot = ends.findIndex((end) => end + 4 <= label.x);
    if (slot < 0) slot = ends.length;
    ends[slot] = label.x + label.w;
    label.slot = slot;
  }
  return ends.length;
}
