// The network view: the last 30 heights of the node's block tree as an SVG
// (tree-layout.js places it), each block coloured by who mined it, the
// node's tip and each peer's last seen tip labelled on their blocks, the
// last reorganisation said, a click on a block showing its header.
//
// Data: GET /tree and GET /peers on connect, after each reorganisation and
// every POLL_MS (side blocks raise no event); `block` events of /events
// (forwarded by app.js) add a block at once. A failing /tree or /peers, or
// a peer that is down, is said in the panel; the rest of the page goes on.
//
// The contract the end-to-end tests hold: each block is a <g> with
// data-hash (full hash), data-height and data-branch (best|side); each tip
// label a <g> inside its block's with data-tip-of (the URL of the node or
// peer) and data-tip-hash; a tip whose block is not drawn is an <li> of
// #tree-offview with the same attributes.

import { layoutTree } from './tree-layout.js';

const POLL_MS = 3_000;
const FETCH_MS = 10_000;
const HEIGHTS = 30;
const SVG = 'http://www.w3.org/2000/svg';
const PALETTE = ['#f0b429', '#58a6ff', '#3fb950', '#f778ba', '#a371f7', '#ff7b72', '#39c5cf', '#d29922', '#8ddb8c', '#c9d1d9'];
const GENESIS_COLOUR = '#56606b';

const short = (hash) => (hash ? `${hash.slice(0, 8)}…${hash.slice(-4)}` : '–');
const clock = (ms) => new Date(ms).toLocaleTimeString();

/// "http://127.0.0.1:5001" → ":5001" on loopback, else host:port.
function peerName(url) {
  try {
    const u = new URL(url);
    return ['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname) ? `:${u.port || (u.protocol === 'https:' ? 443 : 80)}` : u.host;
  } catch {
    return url;
  }
}

async function fetchJson(url) {
  const response = await fetch(url, { signal: AbortSignal.timeout(FETCH_MS) });
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    const why = body?.error ? `${body.error}: ${body.message}` : 'no JSON error body';
    throw new Error(`HTTP ${response.status} (${why})`);
  }
  return body;
}

function svg(name, attrs = {}, parent = null) {
  const el = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  parent?.append(el);
  return el;
}

/// The view inside `card` (the #tree-card section of index.html).
export function createTreeView(card) {
  const $ = (id) => card.querySelector(`#${id}`);
  const view = {
    url: null, tree: null, rows: [], peers: [], errors: {}, reorg: null,
    lost: new Set(), selected: null, colours: new Map(), loading: null, again: false, timer: null,
  };

  function colourOf(row) {
    if (row.index === 0) return GENESIS_COLOUR;
    if (!view.colours.has(row.miner)) view.colours.set(row.miner, PALETTE[view.colours.size % PALETTE.length]);
    return view.colours.get(row.miner);
  }

  function connect(url) {
    clearInterval(view.timer);
    Object.assign(view, { url, tree: null, rows: [], peers: [], errors: {}, reorg: null, lost: new Set(), selected: null });
    render();
    if (!url) return;
    view.timer = setInterval(refresh, POLL_MS);
    refresh();
  }

  // GET /tree and /peers (one refresh at a time; one asked meanwhile runs after).
  function refresh() {
    if (view.loading) { view.again = true; return view.loading; }
    const url = view.url;
    view.loading = (async () => {
      const [tree, peers] = await Promise.allSettled([fetchJson(`${url}/tree`), fetchJson(`${url}/peers`)]);
      if (url !== view.url) return;
      if (tree.status === 'fulfilled') {
        view.tree = tree.value;
        view.rows = tree.value.blocks ?? [];
        delete view.errors.tree;
        // The branch that lost the last reorganisation: best before it, side now.
        const before = view.reorg?.bestBefore;
        if (before) view.lost = new Set(view.rows.filter((r) => r.branch === 'side' && before.has(r.hash)).map((r) => r.hash));
      } else {
        view.errors.tree = `The block tree (${url}/tree) cannot be read: ${tree.reason.message}`;
      }
      if (peers.status === 'fulfilled') {
        view.peers = peers.value.peers ?? [];
        delete view.errors.peers;
      } else {
        view.errors.peers = `The peer list (${url}/peers) cannot be read: ${peers.reason.message}`;
      }
      render();
    })().finally(() => {
      view.loading = null;
      if (view.again) { view.again = false; refresh(); }
    });
    return view.loading;
  }

  /// A `block` event: a block joined the best chain.
  function block(data) {
    const b = data?.block;
    if (!b?.hash || view.rows.some((r) => r.hash === b.hash)) return;
    const { data: text, ...header } = b;
    // Kept to the heights drawn, also while /tree fails.
    const kept = view.rows.filter((r) => r.index > b.index - HEIGHTS);
    view.rows = [...kept, { ...header, branch: 'best', miner: String(text ?? '').slice(0, 64) }];
    if (view.tree && b.index >= view.tree.height) view.tree = { ...view.tree, height: b.index, tip: b.hash };
    render();
    refresh();
  }

  /// A `reorg` event: the lost branch turns side once the tree is read again.
  function reorg(data) {
    if (!data?.new_tip) return;
    const bestBefore = new Set(view.rows.filter((r) => r.branch === 'best').map((r) => r.hash));
    view.reorg = { ...data, atMs: Date.now(), bestBefore };
    refresh();
  }

  function tips() {
    const list = [];
    if (view.tree) list.push({ of: view.url, hash: view.tree.tip, height: view.tree.height, text: 'this node', own: true, up: true });
    for (const p of view.peers) {
      if (!p.tip) continue;
      const up = p.status !== 'down';
      list.push({ of: p.url, hash: p.tip.hash, height: p.tip.height, seenAtMs: p.tip.seen_at_ms, text: `peer ${peerName(p.url)}${up ? '' : ' (down)'}`, own: false, up });
    }
    return list;
  }

  function render() {
    const layout = layoutTree(view.rows, tips(), { heights: HEIGHTS });
    const root = $('tree-svg');
    // Its height follows from the viewBox: the drawing scales with the card.
    root.setAttribute('viewBox', `0 0 ${layout.width} ${Math.max(layout.height, 60)}`);
    const defs = svg('defs');
    const marker = svg('marker', { id: 'tree-arrow', viewBox: '0 0 8 8', refX: 7, refY: 4, markerWidth: 7, markerHeight: 7, orient: 'auto' }, defs);
    svg('path', { d: 'M0 0L8 4L0 8z', class: 'arrow' }, marker);
    const axis = svg('g', { class: 'axis' });
    for (const c of layout.columns) svg('text', { x: c.x, y: 13, 'text-anchor': 'middle' }, axis).textContent = c.index;
    const edges = svg('g', { class: 'edges' });
    for (const e of layout.edges) svg('path', { d: e.d, class: e.stub ? 'edge stub' : 'edge', 'marker-end': e.stub ? '' : 'url(#tree-arrow)' }, edges);
    const blocks = svg('g', { class: 'blocks' });
    for (const b of layout.blocks) drawBlock(blocks, b);
    root.replaceChildren(defs, axis, edges, blocks);
    renderSide(layout);
  }

  function drawBlock(parent, b) {
    const { row } = b;
    const classes = ['block', row.branch, view.lost.has(row.hash) ? 'lost' : '', view.selected === row.hash ? 'selected' : ''];
    const g = svg('g', { class: classes.join(' ').trim(), 'data-hash': row.hash, 'data-height': row.index, 'data-branch': row.branch, tabindex: 0 }, parent);
    svg('title', {}, g).textContent = `#${row.index} ${row.hash}\n${row.index === 0 ? 'genesis' : row.miner} (${row.branch})`;
    svg('rect', { x: b.x, y: b.y, width: b.w, height: b.h, rx: 4, fill: colourOf(row) }, g);
    svg('text', { x: b.x + b.w / 2, y: b.y + b.h / 2 + 3.5, 'text-anchor': 'middle' }, g).textContent = row.hash.slice(-4); // the leading digits are the proof of work's zeros
    for (const l of b.labels) {
      const tip = svg('g', { class: `tip${l.tip.own ? ' own' : ''}${l.tip.up ? '' : ' down'}`, 'data-tip-of': l.tip.of, 'data-tip-hash': l.tip.hash }, g);
      svg('line', { x1: b.x + 6, y1: l.y + 14, x2: b.x + 6, y2: b.y }, tip);
      svg('rect', { x: l.x, y: l.y + 1, width: l.w, height: 13, rx: 6.5 }, tip);
      svg('text', { x: l.x + 6, y: l.y + 11 }, tip).textContent = l.tip.text;
    }
    const select = () => { view.selected = row.hash; render(); };
    g.addEventListener('click', select);
    g.addEventListener('keydown', (e) => { if (e.key === 'Enter' || e.key === ' ') select(); });
  }

  // Legend, the reorganisation, notes, tips off the view, the selected block.
  function renderSide(layout) {
    const miners = [...new Map(layout.blocks.filter((b) => b.row.index > 0).map((b) => [b.row.miner, colourOf(b.row)]))];
    $('tree-legend').replaceChildren(...miners.map(([miner, colour]) => {
      const li = document.createElement('li');
      li.innerHTML = '<span class="swatch"></span><span></span>';
      li.children[0].style.background = colour;
      li.children[1].textContent = miner || '(no data)';
      return li;
    }));
    const r = view.reorg;
    $('tree-reorg').hidden = !r;
    if (r) {
      const blocks = r.depth === 1 ? '1 block' : `${r.depth} blocks`;
      $('tree-reorg').textContent = `Reorganisation at ${clock(r.atMs)}: depth ${r.depth} — ${blocks} left the best chain `
        + `(tip #${r.old_height} ${short(r.old_tip)} → #${r.new_height} ${short(r.new_tip)}); the branch that lost is outlined in red.`;
    }
    const notes = Object.values(view.errors);
    for (const p of view.peers) {
      if (p.status !== 'down') continue;
      const seen = p.tip ? `its last tip seen: #${p.tip.height} ${short(p.tip.hash)} at ${clock(p.tip.seen_at_ms)}` : 'no tip seen from it';
      notes.push(`Peer ${p.url} is down (${seen}).`);
    }
    if (!view.url) notes.push('Not connected.');
    $('tree-note').hidden = notes.length === 0;
    $('tree-note').textContent = notes.join(' · ');
    $('tree-offview').replaceChildren(...layout.unplaced.map((t) => {
      const li = document.createElement('li');
      li.dataset.tipOf = t.of;
      li.dataset.tipHash = t.hash;
      li.textContent = `${t.text}: #${t.height} ${short(t.hash)} (not in this view${t.seenAtMs ? `; seen ${clock(t.seenAtMs)}` : ''})`;
      return li;
    }));
    renderDetails();
  }

  function renderDetails() {
    const row = view.rows.find((r) => r.hash === view.selected);
    const details = $('tree-details');
    details.hidden = !row;
    if (!row) return;
    const on = tips().filter((t) => t.hash === row.hash).map((t) => t.text).join(', ');
    const fields = [['height', row.index], ['hash', row.hash], ['parent', row.prev_hash],
      ['time', row.index === 0 ? '–' : `${new Date(row.timestamp).toISOString()} (${clock(row.timestamp)})`],
      ['difficulty', `${row.difficulty} bits`], ['nonce', row.nonce], ['branch', row.branch],
      ['mined by', row.index === 0 ? 'genesis' : row.miner], ['tip of', on || '–']];
    details.dataset.hash = row.hash;
    details.replaceChildren(...fields.map(([k, v]) => {
      const div = document.createElement('div');
      div.innerHTML = '<dt></dt><dd></dd>';
      div.children[0].textContent = k;
      div.children[1].textContent = String(v);
      if (['hash', 'parent'].includes(k)) div.children[1].className = 'mono';
      return div;
    }));
  }

  return { connect, block, reorg, view };
}
