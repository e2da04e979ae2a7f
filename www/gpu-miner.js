// The page's GPU miner (WebGPU, through gpu.js): finding the adapter, its
// status line, its hash rate, and the mining loop, which keeps dispatches in
// flight over gpu.js's slots, sizes them by measurement, and hands a found
// block to the page only while its job is still the current one.
//
//   await probeGpu(state);                  // state.gpu.status: 'ready' or 'none'
//   gpuLoop(state, { onFound, setError });  // runs while state.mining && state.gpu.mining
//
// It reads state.job (the page's current job) and state.wasm (jbc-web), and
// keeps its figures in state.gpu (hashes, staleHashes, dispatches, batch,
// lastDispatchMs, and the index and parent of the job it last mined).

import { openGpu } from './gpu.js';

const DISPATCH_MS = 50;      // aim for dispatches this long (the GPU's time, measured)
const MIN_BATCH = 1 << 12;
const MAX_BATCH = 1 << 30;   // jbc-core's MAX_DISPATCH_NONCES

const $ = (id) => document.getElementById(id);

// Asks WebGPU for an adapter (gpu.js) and shows what came of it.
export async function probeGpu(state) {
  const g = state.gpu;
  const opened = await openGpu(state.wasm).catch((error) => ({ ok: false, reason: error.message }));
  if (opened.ok) {
    Object.assign(g, { status: 'ready', miner: opened, name: opened.name, software: opened.software });
  } else {
    Object.assign(g, { status: 'none', reason: opened.reason });
  }
  renderGpu(state);
}

// The device selector and the GPU's status line.
export function renderGpu(state) {
  const g = state.gpu;
  const select = $('devices');
  for (const option of select.options) option.disabled = option.value !== 'cpu' && g.status !== 'ready';
  if (g.status !== 'ready') select.value = 'cpu';
  select.disabled = state.mining || g.status !== 'ready';
  $('gpu-status').className = g.status === 'none' ? 'muted warn' : 'muted';
  $('gpu-status').textContent = g.status === 'probing' ? 'looking for a GPU…'
    : g.status === 'ready' ? `GPU: ${g.name}${g.software ? ' (a software adapter: it runs on the CPU)' : ''}`
      : `No GPU mining: ${g.reason}. Mining on the CPU.`;
}

// Updates a miner's smoothed rate ({hashes, lastHashes, lastTick, rate}: a
// worker or the GPU) from its hash count.
export function tickRate(m, now) {
  const dt = (now - m.lastTick) / 1000;
  if (dt <= 0) return;
  const inst = (m.hashes - m.lastHashes) / dt;
  m.rate = m.rate ? 0.5 * m.rate + 0.5 * inst : inst;
  m.lastHashes = m.hashes;
  m.lastTick = now;
}

// Updates the GPU's smoothed rate while it mines.
export function tickGpuRate(g, now) {
  if (g.mining) tickRate(g, now);
}

// Mines state.job on the GPU until stopped, with up to g.miner.depth
// dispatches in flight: the next one is submitted before the last is read.
// The job is re-read before every submission, so the GPU's next dispatch
// after a new tip is on it; what was still in flight for the old job is
// read and discarded (counted in g.staleHashes, never sent as a block), and
// nothing more is submitted for a job whose block it found.
export async function gpuLoop(state, { onFound, setError }) {
  const g = state.gpu;
  if (g.looping) return;
  g.looping = true;
  const inFlight = []; // {cur, d: GpuDispatch, best: Promise<u32>, submittedMs}, oldest first
  let current = null;  // {id, job: MiningJob, nonce, index, prevHash}
  let foundId = null;  // the job whose block the GPU found
  let lastDoneMs = 0;
  let window = { nonces: 0, ms: 0 }; // dispatches measured since the batch size last changed
  const maxNonce = state.wasm.maxNonce();
  try {
    while (state.mining && g.mining) {
      const spec = state.job;
      const live = spec && !spec.done && spec.id !== foundId ? spec : null;
      if (current && current.id !== live?.id) {
        // Only the current job's results are decoded: the old one can go.
        current.job.free();
        current = null;
      }
      if (live && !current) {
        const job = new state.wasm.MiningJob(JSON.stringify(live.next), live.data, live.timestampMs);
        current = { id: live.id, job, nonce: state.wasm.randomStartNonce(), index: live.next.index, prevHash: live.next.prev_hash };
      }
      while (current && inFlight.length < g.miner.depth) {
        const d = current.job.gpuDispatch(current.nonce, g.batch);
        const end = d.start + d.count;
        current.nonce = end > maxNonce ? state.wasm.randomStartNonce() : end;
        inFlight.push({ cur: current, d, best: g.miner.dispatch(d), submittedMs: performance.now() });
      }
      if (!inFlight.length) {
        await new Promise((resolve) => { g.wake = resolve; setTimeout(resolve, 500); });
        g.wake = null;
        continue;
      }
      const done = inFlight[0];
      const best = await done.best;
      inFlight.shift();
      // The GPU's time on it: from when it could start (its submission, or
      // the previous completion when it waited behind one) to now.
      const now = performance.now();
      const ms = now - Math.max(done.submittedMs, lastDoneMs);
      lastDoneMs = now;
      const count = done.d.count;
      const hashes = best === g.miner.noResult ? count : Math.min(best, count - 1) + 1;
      g.dispatches += 1;
      g.lastDispatchMs = ms;
      g.hashes += hashes;
      window.nonces += count;
      window.ms += ms;
      if (window.ms >= 2 * DISPATCH_MS) {
        const wanted = Math.round(window.nonces * DISPATCH_MS / window.ms);
        g.batch = Math.max(MIN_BATCH, Math.min(MAX_BATCH, g.batch * 4, Math.max(g.batch / 4, wanted)));
        window = { nonces: 0, ms: 0 };
      }
      const live2 = state.job;
      if (done.cur !== current || !live2 || live2.done || live2.id !== done.cur.id) {
        g.staleHashes += hashes; // a job replaced while this was in flight
        done.d.free();
        continue;
      }
      g.index = current.index;
      g.prevHash = current.prevHash;
      const round = current.job.gpuResult(done.d, best);
      done.d.free();
      if (round.found) {
        foundId = current.id;
        const msg = { jobId: current.id, blockJson: current.job.blockJson(round.nonce), hash: round.hash, nonce: round.nonce, device: 'GPU' };
        round.free();
        onFound(msg);
      } else {
        round.free();
      }
    }
  } catch (error) {
    setError('gpu', `GPU mining stopped: ${error.message}`);
  } finally {
    // A dispatch's uniform is read when its slot frees up: free it after.
    for (const f of inFlight) f.best.catch(() => {}).finally(() => f.d.free());
    current?.job.free();
    g.looping = false;
  }
}
