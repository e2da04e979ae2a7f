// One mining thread: a module Web Worker running jbc-web's MiningJob.
//
// Messages in:  {type: 'init', pkg}            load the wasm build at pkg (a URL)
//               {type: 'job', job}             mine this job ({id, next, data, timestampMs})
//               {type: 'idle'}                 stop mining until the next job
// Messages out: {type: 'ready', kernel}
//               {type: 'rate', hashes, ms, jobId, index, prevHash}   after every round
//               {type: 'found', jobId, blockJson, hash, nonce}
//               {type: 'error', code, message}
//
// Mining runs in rounds of about ROUND_MS; between rounds the worker yields
// to its event loop, so a new job (a new tip) replaces the old one within
// one round.

const ROUND_MS = 50;
const MIN_BATCH = 1_000;
const MAX_BATCH = 4_000_000;

let wasm = null;
let current = null;   // {job: MiningJob, id, nonce}
let pending = null;   // a job message received while mining
let looping = false;
let batch = 20_000;

// A zero-delay yield to the event loop (setTimeout would be clamped to 4 ms).
const channel = new MessageChannel();
const waiting = [];
channel.port1.onmessage = () => waiting.shift()?.();
const yieldToEvents = () => new Promise((resolve) => { waiting.push(resolve); channel.port2.postMessage(0); });

function report(error) {
  postMessage({ type: 'error', code: error?.code ?? 'error', message: String(error?.message ?? error) });
}

function startJob(spec) {
  current?.job.free();
  current = null;
  const job = new wasm.MiningJob(JSON.stringify(spec.next), spec.data, spec.timestampMs);
  current = { job, id: spec.id, nonce: wasm.randomStartNonce() };
}

async function loop() {
  if (looping) return;
  looping = true;
  try {
    while (current) {
      const t0 = performance.now();
      const round = current.job.mine(current.nonce, batch);
      const ms = performance.now() - t0;
      const { id } = current;
      postMessage({
        type: 'rate', hashes: round.hashes, ms, jobId: id,
        index: current.job.index, prevHash: current.job.prevHash,
      });
      if (round.found) {
        postMessage({
          type: 'found', jobId: id, blockJson: current.job.blockJson(round.nonce),
          hash: round.hash, nonce: round.nonce,
        });
        // This job is done: wait for the page to send the next one.
        current.job.free();
        current = null;
      } else {
        current.nonce = round.nextNonce ?? wasm.randomStartNonce();
      }
      round.free();
      // Aim for rounds of ROUND_MS.
      if (ms > 0) batch = Math.max(MIN_BATCH, Math.min(MAX_BATCH, Math.round(batch * ROUND_MS / Math.max(ms, 1))));
      await yieldToEvents();
    }
  } catch (error) {
    report(error);
    current = null;
  } finally {
    looping = false;
  }
}

onmessage = async ({ data: msg }) => {
  try {
    switch (msg.type) {
      case 'init': {
        // `wasm` is set only once the module is instantiated: a job that
        // arrives meanwhile waits in `pending` instead of calling into a
        // module that is not there yet.
        const module = await import(msg.pkg);
        await module.default();
        wasm = module;
        postMessage({ type: 'ready', kernel: wasm.kernel() });
        if (pending) { startJob(pending); pending = null; loop(); }
        break;
      }
      case 'job':
        if (!wasm) { pending = msg.job; break; }
        startJob(msg.job);
        loop();
        break;
      case 'idle':
        pending = null;
        current?.job.free();
        current = null;
        break;
    }
  } catch (error) {
    report(error);
  }
};
