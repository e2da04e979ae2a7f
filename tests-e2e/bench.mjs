// The browser miner's hash rate in headless Chromium, for `cargo xtask bench-web`.
//
//   node bench.mjs --url NODE_URL [--workers N] [--secs S] [--kernel auto|scalar|simd]
//                  [--shot-url NODE_URL --screenshot FILE]
//
// Opens the page served by the node at --url (which should never find a
// block: a high difficulty), starts N workers, waits 2 s of warm-up, then
// counts each worker's hashes over S seconds of wall-clock time. With
// --screenshot it then mines on the node at --shot-url (a low difficulty)
// for a few seconds and saves a screenshot of the page.
// Then, in a second Chromium with the SwiftShader WebGPU flags, it mines on
// the GPU alone (?devices=gpu) for S seconds and prints
// `GPU <H/s> <software 0|1> <adapter name…>` (or `GPU none <why>`).
// The last line printed is `RESULT <kernel> <browser> <H/s of worker 0> …`.
import { parseArgs } from 'node:util';
import { launchBrowser, openMiner, waitFor } from './lib/harness.mjs';

// GPU only, on a WebGPU-enabled Chromium: {rate, software, name} or {reason}.
async function measureGpu(url, secs) {
  const browser = await launchBrowser({ webgpu: true });
  try {
    const page = await openMiner(browser.context, `${url.replace(/\/$/, '')}/?devices=gpu`);
    const gpu = await page.evaluate(() => ({ status: jbcMiner.gpu.status, reason: jbcMiner.gpu.reason, name: jbcMiner.gpu.name, software: jbcMiner.gpu.software }));
    if (gpu.status !== 'ready') return { reason: gpu.reason };
    await page.click('#start');
    await waitFor('GPU dispatches', () => page.evaluate(() => jbcMiner.gpu.dispatches > 3), 30_000);
    await sleep(2_000); // the dispatch size settles at ~50 ms
    const sample = () => page.evaluate(() => ({ t: performance.now(), hashes: jbcMiner.gpu.hashes, ms: jbcMiner.gpu.lastDispatchMs, batch: jbcMiner.gpu.batch }));
    const first = await sample();
    await sleep(secs * 1000);
    const last = await sample();
    await page.click('#stop');
    console.error(`GPU dispatch: ${last.batch} nonces, last took ${last.ms.toFixed(1)} ms`);
    return { rate: (last.hashes - first.hashes) / ((last.t - first.t) / 1000), software: gpu.software, name: gpu.name };
  } finally {
    await browser.close();
  }
}

const { values: opts } = parseArgs({
  options: {
    url: { type: 'string' },
    workers: { type: 'string', default: '2' },
    secs: { type: 'string', default: '8' },
    kernel: { type: 'string', default: 'auto' },
    'shot-url': { type: 'string' },
    screenshot: { type: 'string' },
  },
});
if (!opts.url) throw new Error('--url is required');
const workers = Number(opts.workers);
const secs = Number(opts.secs);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const query = new URLSearchParams({ workers: String(workers) });
if (opts.kernel !== 'auto') query.set('kernel', opts.kernel);

const browser = await launchBrowser();
try {
  const version = browser.context.browser()?.version() ?? 'unknown';
  const page = await openMiner(browser.context, `${opts.url.replace(/\/$/, '')}/?${query}`);
  await page.click('#start');
  await waitFor('every worker hashing',
    () => page.evaluate((n) => jbcMiner.workers.length === n && jbcMiner.workers.every((w) => w.hashes > 0), workers), 30_000);
  await sleep(2_000);
  const sample = () => page.evaluate(() => ({ t: performance.now(), hashes: jbcMiner.workers.map((w) => w.hashes) }));
  const first = await sample();
  await sleep(secs * 1000);
  const last = await sample();
  const kernel = await page.evaluate(() => `${jbcMiner.flavor}/${jbcMiner.kernel}`);
  const rates = last.hashes.map((h, i) => (h - first.hashes[i]) / ((last.t - first.t) / 1000));
  const errors = await page.evaluate(() => jbcMiner.errors);
  if (Object.keys(errors).length) console.error('page errors:', errors);
  await page.click('#stop');

  if (opts.screenshot && opts['shot-url']) {
    const shot = await openMiner(browser.context, `${opts['shot-url'].replace(/\/$/, '')}/?${query}`);
    await shot.click('#start');
    await waitFor('a few blocks found by the tab',
      () => shot.evaluate(() => jbcMiner.found.filter((f) => f.status === 'accepted').length >= 12), 60_000);
    await sleep(1_500);
    await shot.screenshot({ path: opts.screenshot, fullPage: true });
    await shot.click('#stop');
    console.error(`screenshot saved to ${opts.screenshot}`);
  }
  await browser.close();
  const gpu = await measureGpu(opts.url, secs);
  console.log(gpu.reason ? `GPU none ${gpu.reason}` : `GPU ${gpu.rate.toFixed(0)} ${gpu.software ? 1 : 0} ${gpu.name}`);
  console.log(`RESULT ${kernel} Chromium/${version} ${rates.map((r) => r.toFixed(0)).join(' ')}`);
} finally {
  await browser.close();
}
