// The JBC browser miner page: talks to a node (GET /tip, /blocks, POST
// /mined through jbc-web's Node, live /events through EventSource) and runs
// one module Web Worker per mining thread (worker.js), and GPU mining through
// WebGPU (gpu.js) when the browser offers an adapter.

import { drawPlot } from './plot.js';
import { gpuLoop, probeGpu, renderGpu, tickGpuRate, tickRate } from './gpu-miner.js';
import { createTreeView } from './tree.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);

const POLL_MS = 2_000;          // /tip poll: a fallback for missed events, and liveness
const JOB_MAX_AGE_MS = 30_000;  // refresh the timestamp of a long-running job
const CHAIN_ROWS = 30;

// A tiny module using a SIMD instruction (i8x16.popcnt): valid only where
// the browser supports wasm simd128.
const SIMD_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0,
  10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11]);

const state = {
  flavor: null,     // 'simd' or 'scalar': the wasm build in use
  kernel: null,     // what that build reports
  minerId: null,
  wasm: null,
  node: null,       // jbc-web Node
  tip: null,        // the parsed /tip answer
  job: null,        // {id, next, data, timestampMs, createdMs, done}
  jobSeq: 0,
  mining: false,
  workers: [],      // {worker, ready, hashes, rate, index, prevHash, jobId, lastHashes, lastTick}
  found: [],        // {timeMs, index, hash, device, status, newTip, code, message}
  chain: [],        // recent best-chain blocks, oldest first
  sources: new Map(), // block hash -> source from /events
  errors: {},       // kind -> message
  events: null,
  eventsOpen: false,
  pollTimer: null,
  refreshing: null,
  refreshAgain: false,
  submitting: 0,    // found blocks on their way to the node
  submitted: 0,     // submissions answered so far
  acceptedHeight: 0, // height of our last block the node took as its tip
  devices: 'cpu',   // what mines: 'cpu', 'gpu' or 'both'
  gpu: {
    status: 'probing', // 'probing', 'ready' or 'none'
    reason: null,      // why there is no GPU
    name: null,        // the adapter
    software: false,   // SwiftShader, lavapipe…: a CPU pretending
    miner: null,       // openGpu() result
    mining: false,
    looping: false,
    wake: null,        // resolves the GPU loop's wait for a job
    batch: 1 << 16,    // nonces per dispatch, adapted to gpu-loop.js's DISPATCH_MS
    hashes: 0, rate: 0, lastHashes: 0, lastTick: 0,
    staleHashes: 0,    // hashes of dispatches whose job was replaced before they were read
    dispatches: 0,
    lastDispatchMs: 0,
    index: null,       // height and parent of the job of the last dispatch
    prevHash: null,
  },
};
// For the end-to-end tests and the curious: the page's live state.
window.jbcMiner = state;
const tree = createTreeView($('tree-card')); // the network view (tree.js)

function pickFlavor() {
  const forced = params.get('kernel');
  if (forced === 'scalar' || forced === 'simd') return forced;
  try {
    return WebAssembly.validate(SIMD_PROBE) ? 'simd' : 'scalar';
  } catch {
    return 'scalar';
  }
}

function pkgUrl(flavor) {
  return new URL(`./pkg/${flavor}/jbc_web.js`, import.meta.url).href;
}

// ---------------------------------------------------------------- errors

function setError(kind, message) {
  if (message) state.errors[kind] = message; else delete state.errors[kind];
  const all = Object.values(state.errors);
  $('error').hidden = all.length === 0;
  $('error').textContent = all.join(' · ');
}

function nodeErrorText(error) {
  const url = state.node?.url ?? $('node-url').value;
  if (error?.code === 'unreachable') {
    return `Cannot reach the node at ${url}: is it running, and is the URL right? (${error.message})`;
  }
  if (error?.code === 'bad_answer') return `The node at ${url} sent an answer this page cannot read: ${error.message}`;
  return `Node error at ${url}: ${error?.code ? error.code + ': ' : ''}${error?.message ?? error}`;
}

function setConn(kind, text) {
  $('conn').className = `badge ${kind}`;
  $('conn').textContent = text;
}

// ---------------------------------------------------------------- node

function dataText() {
  const name = $('name').value.trim();
  return name || `Mined by browser ${state.minerId}`;
}

async function connect(url) {
  state.events?.close();
  state.events = null;
  clearInterval(state.pollTimer);
  state.tip = null;
  state.acceptedHeight = 0;
  state.chain = [];
  state.sources.clear();
  setError('block', null);
  try {
    state.node = new state.wasm.NodeClient(url);
  } catch (error) {
    state.node = null;
    setConn('bad', 'bad URL');
    setError('node', `Invalid node URL: ${error.message}`);
    renderFacts();
    tree.connect(null);
    return;
  }
  setConn('off', 'connecting…');
  renderFacts();
  renderChain();
  tree.connect(state.node.url);
  openEvents(state.node.url);
  state.pollTimer = setInterval(() => refreshTip(), POLL_MS);
  await refreshTip();
}

function openEvents(base) {
  let events;
  try {
    events = new EventSource(`${base}/events`);
  } catch (error) {
    setError('events', `Cannot open live events: ${error.message}`);
    return;
  }
  state.events = events;
  events.onopen = () => { state.eventsOpen = true; $('events-state').textContent = '(live)'; setError('events', null); };
  events.onerror = () => { state.eventsOpen = false; $('events-state').textContent = '(events reconnecting…)'; };
  const parse = (e) => { try { return JSON.parse(e.data); } catch { return {}; } };
  events.addEventListener('block', (e) => {
    const data = parse(e);
    // `block`: {"source": "local"|"submitted"|"sync", "block": {…}} (jbc-node's events.rs).
    const hash = data.block?.hash;
    if (hash && data.source) state.sources.set(hash, data.source);
    tree.block(data);
    refreshTip();
  });
  events.addEventListener('reorg', (e) => {
    // The best chain may now be lower than a block we saw accepted.
    state.acceptedHeight = 0;
    tree.reorg(parse(e));
    refreshTip();
  });
  events.addEventListener('status', (e) => {
    const data = parse(e);
    // `status`: {"height", "hash", "hashes_per_sec", "peers", "peers_up", "mining"}.
    if (typeof data.hashes_per_sec === 'number') $('node-rate').textContent = formatRate(data.hashes_per_sec);
    if (typeof data.peers === 'number') $('peers').textContent = String(data.peers);
  });
}

// Fetches /tip (one request at a time; a request made meanwhile runs once more
// afterwards). A new tip means a new job for every worker and a fresh chain view.
function refreshTip() {
  if (state.refreshing) {
    state.refreshAgain = true;
    return state.refreshing;
  }
  state.refreshing = (async () => {
    const node = state.node;
    if (!node) return;
    const submitsBefore = state.submitted;
    try {
      const tip = JSON.parse(await node.tip());
      if (node !== state.node) return;
      // An answer older than a block the node has just accepted from us.
      if (tip.height < state.acceptedHeight) return;
      setError('node', null);
      setConn('on', `connected · height ${tip.height}`);
      const old = state.tip;
      state.tip = tip;
      renderFacts();
      const changed = !old || old.hash !== tip.hash || old.next.difficulty !== tip.next.difficulty;
      const job = state.job;
      const sameTarget = job && job.next.prev_hash === tip.next.prev_hash
        && job.next.difficulty === tip.next.difficulty && job.next.index === tip.next.index;
      // A job whose block was found waits for the node's answer to it; only
      // then (nothing in flight, no answer since this request) is a tip with
      // the same parent worth mining again (the block was refused or lost).
      const retry = job?.done && state.submitting === 0 && state.submitted === submitsBefore;
      const stale = job && !job.done && Date.now() - job.createdMs > JOB_MAX_AGE_MS;
      if (state.mining && (!job || !sameTarget || retry || stale)) newJob();
      if (changed) await loadChain(node, tip);
    } catch (error) {
      if (node !== state.node) return;
      setConn('bad', 'unreachable');
      setError('node', nodeErrorText(error));
    }
  })().finally(() => {
    state.refreshing = null;
    if (state.refreshAgain) {
      state.refreshAgain = false;
      refreshTip();
    }
  });
  return state.refreshing;
}

async function loadChain(node, tip) {
  const from = Math.max(0, tip.height - CHAIN_ROWS + 1);
  try {
    const blocks = JSON.parse(await node.blocks(from, CHAIN_ROWS));
    if (node !== state.node) return;
    state.chain = blocks;
    renderChain();
  } catch (error) {
    setError('node', nodeErrorText(error));
  }
}

// ---------------------------------------------------------------- mining

function newJob() {
  if (!state.mining || !state.tip) return;
  state.job = {
    id: ++state.jobSeq,
    next: state.tip.next,
    data: dataText(),
    timestampMs: Date.now(),
    createdMs: Date.now(),
    done: false,
  };
  for (const w of state.workers) w.worker.postMessage({ type: 'job', job: state.job });
  state.gpu.wake?.();
}

// ---------------------------------------------------------------- GPU

const wantsGpu = () => state.devices !== 'cpu' && state.gpu.status === 'ready';
const wantsCpu = () => state.devices !== 'gpu' || state.gpu.status !== 'ready';

function start() {
  if (state.mining) return;
  if (!state.node) { setError('node', 'Connect to a node first.'); return; }
  const count = Math.max(1, Math.min(64, Number.parseInt($('workers').value, 10) || 1));
  $('workers').value = count;
  state.devices = $('devices').value;
  state.mining = true;
  state.workers = [];
  setError('gpu', null);
  const url = pkgUrl(state.flavor);
  for (let i = 0; i < (wantsCpu() ? count : 0); i++) {
    const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
    const w = { worker, ready: false, hashes: 0, rate: 0, index: null, prevHash: null, jobId: null, lastHashes: 0, lastTick: performance.now() };
    worker.onmessage = ({ data }) => onWorkerMessage(w, data);
    worker.onerror = (e) => setError('worker', `Worker ${i} failed: ${e.message ?? 'could not start'}`);
    worker.postMessage({ type: 'init', pkg: url });
    state.workers.push(w);
  }
  $('start').disabled = true;
  $('stop').disabled = false;
  $('workers').disabled = true;
  if (wantsGpu()) {
    Object.assign(state.gpu, { mining: true, hashes: 0, staleHashes: 0, rate: 0, lastHashes: 0, lastTick: performance.now() });
    gpuLoop(state, { onFound, setError });
  }
  renderGpu(state);
  renderWorkers();
  if (state.tip) newJob(); else refreshTip();
}

function stop() {
  if (!state.mining) return;
  state.mining = false;
  for (const w of state.workers) w.worker.terminate();
  state.workers = [];
  state.job = null;
  state.gpu.mining = false;
  state.gpu.rate = 0;
  state.gpu.wake?.();
  $('start').disabled = false;
  $('stop').disabled = true;
  $('workers').disabled = false;
  renderGpu(state);
  renderWorkers();
}

function onWorkerMessage(w, msg) {
  if (!state.mining || !state.workers.includes(w)) return;
  switch (msg.type) {
    case 'ready':
      w.ready = true;
      break;
    case 'rate':
      w.hashes += msg.hashes;
      w.index = msg.index;
      w.prevHash = msg.prevHash;
      w.jobId = msg.jobId;
      break;
    case 'found':
      onFound({ ...msg, device: 'CPU' });
      break;
    case 'error':
      setError('worker', `Miner error (${msg.code}): ${msg.message}`);
      break;
  }
}

async function onFound(msg) {
  const job = state.job;
  if (!job || job.done || msg.jobId !== job.id) return; // found on a stale job
  job.done = true;
  // Every worker stops this job; the next tip brings the next one.
  for (const w of state.workers) w.worker.postMessage({ type: 'idle' });
  const block = JSON.parse(msg.blockJson);
  const entry = { timeMs: Date.now(), index: block.index, hash: msg.hash, device: msg.device, status: 'submitting…' };
  state.found.unshift(entry);
  renderFound();
  state.submitting += 1;
  try {
    const reply = JSON.parse(await state.node.submit(msg.blockJson));
    entry.status = reply.status;
    // Whether the node took it as its new tip: jbc-core's SubmitStatus says.
    entry.newTip = reply.new_tip;
    if (reply.new_tip) state.acceptedHeight = reply.height;
    setError('block', null);
  } catch (error) {
    entry.status = 'rejected';
    entry.code = error.code ?? 'error';
    entry.message = error.message;
    setError('block', error.code === 'unreachable'
      ? nodeErrorText(error)
      : `The node rejected block #${block.index} (${entry.code}): ${entry.message}`);
  } finally {
    state.submitting -= 1;
    state.submitted += 1;
  }
  renderFound();
  await refreshTip();
}

// ---------------------------------------------------------------- rendering

function formatRate(hps) {
  if (hps >= 1e9) return `${(hps / 1e9).toFixed(2)} G`;
  if (hps >= 1e6) return `${(hps / 1e6).toFixed(2)} M`;
  if (hps >= 1e3) return `${(hps / 1e3).toFixed(1)} k`;
  return `${Math.round(hps)} `;
}

const short = (hash) => (hash ? `${hash.slice(0, 8)}…${hash.slice(-4)}` : '–');
const clock = (ms) => new Date(ms).toLocaleTimeString();

function renderFacts() {
  const tip = state.tip;
  $('network').textContent = tip?.params?.network ?? '–';
  $('height').textContent = tip ? String(tip.height) : '–';
  $('tip-hash').textContent = tip ? short(tip.hash) : '–';
  $('tip-hash').title = tip?.hash ?? '';
  $('difficulty').textContent = tip ? `${tip.next.difficulty} bits` : '–';
  $('start').disabled = state.mining || !state.wasm;
}

function tickRates() {
  const now = performance.now();
  for (const w of state.workers) tickRate(w, now);
  tickGpuRate(state.gpu, now);
  renderWorkers();
}

function renderWorkers() {
  const g = state.gpu;
  // One bar per CPU worker, and one for the GPU when it mines.
  const rows = state.workers.map((w, i) => ({ label: `worker ${i}`, rate: w.rate, ready: w.ready }));
  if (g.mining) rows.push({ label: 'GPU', rate: g.rate, ready: g.dispatches > 0, gpu: true });
  const total = rows.reduce((sum, r) => sum + r.rate, 0);
  $('total-rate').textContent = formatRate(total);
  $('gpu-rate').textContent = g.mining ? `${formatRate(g.rate)}H/s` : '–';
  const max = Math.max(1, ...rows.map((r) => r.rate));
  const list = $('worker-rates');
  if (list.children.length !== rows.length) {
    list.replaceChildren(...rows.map((r) => {
      const li = document.createElement('li');
      li.innerHTML = '<span></span><span class="track"><span class="fill"></span></span><span class="val"></span>';
      li.children[0].textContent = r.label;
      if (r.gpu) li.className = 'gpu';
      return li;
    }));
  }
  rows.forEach((r, i) => {
    const li = list.children[i];
    li.querySelector('.fill').style.width = `${(100 * r.rate) / max}%`;
    li.querySelector('.val').textContent = r.ready ? `${formatRate(r.rate)}H/s` : 'starting…';
  });
}

function renderFound() {
  $('found-empty').hidden = state.found.length > 0;
  $('found').replaceChildren(...state.found.slice(0, 50).map((f) => {
    const tr = document.createElement('tr');
    const ok = f.newTip === true;
    const cls = ok ? 'ok' : f.status === 'rejected' ? 'bad' : 'info';
    const said = f.status === 'rejected' ? `${f.code}: ${f.message}`
      : f.status === 'ignored' ? 'ignored (stale: the node has more work elsewhere; not stored)'
        : f.status;
    tr.innerHTML = `<td>${clock(f.timeMs)}</td><td>${f.index}</td><td class="mono"></td><td></td><td><span class="tag ${cls}"></span></td>`;
    tr.children[2].textContent = short(f.hash);
    tr.children[2].title = f.hash;
    tr.children[3].textContent = f.device ?? '';
    tr.querySelector('.tag').textContent = said;
    return tr;
  }));
}

const isMine = (block) => state.found.some((f) => f.hash === block.hash);

function renderChain() {
  const rows = [...state.chain].reverse().map((b) => {
    const tr = document.createElement('tr');
    if (isMine(b)) tr.className = 'mine';
    const source = state.sources.get(b.hash);
    tr.innerHTML = '<td></td><td class="mono"></td><td></td><td></td><td></td>';
    tr.children[0].textContent = b.index;
    tr.children[1].textContent = short(b.hash);
    tr.children[1].title = b.hash;
    tr.children[2].textContent = b.index === 0 ? 'genesis' : b.data;
    if (source) {
      const tag = document.createElement('span');
      tag.className = 'tag info';
      tag.textContent = source;
      tag.style.marginLeft = '6px';
      tr.children[2].append(tag);
    }
    tr.children[3].textContent = b.index === 0 ? '–' : clock(b.timestamp);
    tr.children[4].textContent = b.difficulty;
    return tr;
  });
  $('chain').replaceChildren(...rows);
  drawPlot($('plot'), state.chain, isMine);
}

// ---------------------------------------------------------------- start-up

async function main() {
  const defaultUrl = params.get('node') ?? (location.protocol.startsWith('http') ? location.origin : 'http://127.0.0.1:5000');
  $('node-url').value = defaultUrl;
  $('workers').value = params.get('workers') ?? navigator.hardwareConcurrency ?? 2;
  renderGpu(state);
  $('node-form').addEventListener('submit', (e) => { e.preventDefault(); connect($('node-url').value); });
  $('start').addEventListener('click', start);
  $('stop').addEventListener('click', stop);
  setInterval(tickRates, 1_000);

  state.flavor = pickFlavor();
  try {
    let module;
    try {
      module = await import(pkgUrl(state.flavor));
    } catch (error) {
      if (state.flavor !== 'simd' || params.get('kernel')) throw error;
      // No SIMD build on this server: the scalar one works everywhere.
      state.flavor = 'scalar';
      module = await import(pkgUrl(state.flavor));
    }
    await module.default();
    // Set only once instantiated: nothing calls into a module not there yet.
    state.wasm = module;
    state.kernel = state.wasm.kernel();
    state.minerId = state.wasm.randomMinerId();
  } catch (error) {
    $('kernel').textContent = 'miner failed to load';
    setError('wasm', `Cannot load the WebAssembly miner (${pkgUrl(state.flavor)}): ${error.message}. Was it built with \`cargo xtask web\`?`);
    return;
  }
  $('kernel').textContent = `${state.kernel} build · miner id ${state.minerId}`;
  $('name').placeholder = `Mined by browser ${state.minerId}`;
  renderFacts();
  renderFound();
  await probeGpu(state);
  // ?devices=cpu|gpu|both; by default both when there is a GPU.
  const devices = params.get('devices');
  if (state.gpu.status === 'ready') $('devices').value = ['cpu', 'gpu', 'both'].includes(devices) ? devices : 'both';
  renderGpu(state);
  await connect(defaultUrl);
  state.loaded = true;
}

main();
