// The network view (www/tree.js) on three real nodes: a fork made on
// purpose — two blocks mined at one height and both submitted, then the
// second extended — must be drawn as it happens: both blocks, the first
// `best` then `side` after the reorganisation, each peer's tip label on the
// block that peer reported (one peer stopped before the reorganisation
// keeps its last tip, said to be down), a click showing a block's header.
// A /tree that answers an error is said in the panel, and the page goes on.
//
// Node A serves the page and has B and C as peers. Blocks are mined in the
// page's own wasm (jbc-web's MiningJob) at a low difficulty.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { startNode, networkArgs, launchBrowser, openMiner, getJson, postJson, waitFor, screenshot } from '../lib/harness.mjs';

const DIFFICULTY = 12;
const NETWORK = networkArgs('e2e-tree', DIFFICULTY);

describe('the network view', () => {
  let a, b, c, browser, page;
  const blocks = {};

  before(async () => {
    b = await startNode(NETWORK);
    c = await startNode(NETWORK);
    a = await startNode([...NETWORK, '--peer', b.url, '--peer', c.url]);
    browser = await launchBrowser();
    page = await openMiner(browser.context, `${a.url}/`);
    await page.setViewportSize({ width: 1280, height: 800 });
  });

  after(async () => {
    await browser?.close();
    for (const node of [a, b, c]) await node?.stop();
  });

  /// A block on `next` (a /tip's `next`) with `data`, mined in the page.
  const mine = (next, data) => page.evaluate(async ({ next, data }) => {
    const m = await import('./pkg/scalar/jbc_web.js');
    await m.default();
    const job = new m.MiningJob(JSON.stringify(next), data, Date.now());
    const round = job.mine(0, 1 << 24);
    if (!round.found) throw new Error('no nonce found');
    return JSON.parse(job.blockJson(round.nonce));
  }, { next, data });

  const submit = async (node, block, status) => {
    const reply = await postJson(`${node.url}/mined`, JSON.stringify(block));
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    assert.equal(reply.body.status, status, JSON.stringify(reply.body));
  };

  const tipOf = async (node) => (await getJson(`${node.url}/tip`)).hash;

  /// The drawn block of `hash`: its attributes, or null.
  const drawn = (hash) => page.evaluate((hash) => {
    const g = document.querySelector(`#tree-svg [data-hash="${hash}"]`);
    return g && { height: g.dataset.height, branch: g.dataset.branch };
  }, hash);

  /// The tip label of `url`: its hash and the block it sits on, or null.
  const tipLabel = (url) => page.evaluate((url) => {
    const label = document.querySelector(`#tree-svg [data-tip-of="${url}"]`);
    return label && { hash: label.dataset.tipHash, on: label.closest('[data-hash]')?.dataset.hash };
  }, url);

  test('a fork and its reorganisation are drawn as they happen', async () => {
    await waitFor('genesis drawn', () => page.$('#tree-svg [data-height="0"]'), 20_000);
    for (const name of ['alice', 'bob', 'carol', 'alice']) {
      const tip = await getJson(`${a.url}/tip`);
      const block = await mine(tip.next, `Mined by ${name}`);
      await submit(a, block, 'accepted');
      blocks.last = block;
    }
    await waitFor('B and C at height 4', async () => (await tipOf(b)) === blocks.last.hash && (await tipOf(c)) === blocks.last.hash, 20_000);

    // Two blocks at height 5: alice's first (best), bob's second (side).
    const tip = await getJson(`${a.url}/tip`);
    blocks.first = await mine(tip.next, 'Mined by alice');
    blocks.second = await mine(tip.next, 'Mined by bob');
    assert.notEqual(blocks.first.hash, blocks.second.hash);
    await submit(a, blocks.first, 'accepted');
    await submit(a, blocks.second, 'side');
    const forked = await waitFor('both blocks of height 5 drawn', async () => {
      const [first, second] = [await drawn(blocks.first.hash), await drawn(blocks.second.hash)];
      return first?.branch === 'best' && second?.branch === 'side' && { first, second };
    }, 20_000);
    assert.deepEqual(forked, { first: { height: '5', branch: 'best' }, second: { height: '5', branch: 'side' } });
    await waitFor('B and C at the first block', async () => (await tipOf(b)) === blocks.first.hash && (await tipOf(c)) === blocks.first.hash, 20_000);
    const atFirst = await waitFor('both peers labelled on the first block', async () => {
      const [lb, lc] = [await tipLabel(b.url), await tipLabel(c.url)];
      return lb?.on === blocks.first.hash && lc?.on === blocks.first.hash && { lb, lc };
    }, 20_000);
    assert.equal(atFirst.lb.hash, blocks.first.hash);

    // C stops; then bob extends his block: A reorganises, B follows.
    await c.stop();
    await waitFor('the panel to say C is down', async () => (await page.textContent('#tree-note')).includes(`Peer ${c.url} is down`), 20_000);
    const next = { index: 6, prev_hash: blocks.second.hash, difficulty: DIFFICULTY, min_timestamp: blocks.second.timestamp + 1 };
    blocks.third = await mine(next, 'Mined by bob');
    await submit(a, blocks.third, 'reorg');
    await waitFor('the reorganisation drawn', async () => {
      const [first, second, third] = await Promise.all([blocks.first, blocks.second, blocks.third].map((x) => drawn(x.hash)));
      return first?.branch === 'side' && second?.branch === 'best' && third?.branch === 'best';
    }, 20_000);
    assert.match(await page.textContent('#tree-reorg'), /depth 1/);
    assert.equal(await page.getAttribute(`#tree-svg [data-hash="${blocks.first.hash}"]`, 'class'), 'block side lost');
    await waitFor('B at the third block', async () => (await tipOf(b)) === blocks.third.hash, 30_000);

    // Each tip label on the block its node reported (A's /peers says which).
    const labels = await waitFor('B labelled on the third block', async () => {
      const [own, lb, lc] = [await tipLabel(a.url), await tipLabel(b.url), await tipLabel(c.url)];
      return lb?.on === blocks.third.hash && own?.on === blocks.third.hash && { own, lb, lc };
    }, 20_000);
    assert.deepEqual(labels.lc, { hash: blocks.first.hash, on: blocks.first.hash }, 'C keeps its last tip');
    const peers = (await getJson(`${a.url}/peers`)).peers;
    for (const [node, label] of [[b, labels.lb], [c, labels.lc]]) {
      const peer = peers.find((p) => p.url === node.url);
      assert.equal(peer.tip.hash, label.hash, `${node.url}'s label is its tip in /peers`);
    }
    assert.equal(peers.find((p) => p.url === c.url).status, 'down');
    assert.match(await page.getAttribute(`#tree-svg [data-tip-of="${c.url}"]`, 'class'), /down/);

    // A click shows the header of a block.
    await page.click(`#tree-svg [data-hash="${blocks.second.hash}"] > rect`);
    await waitFor('the details', () => page.isVisible('#tree-details'), 10_000);
    const details = await page.textContent('#tree-details');
    assert.ok(details.includes(blocks.second.hash), details);
    assert.ok(details.includes(blocks.second.prev_hash), details);
    assert.ok(details.includes('Mined by bob'), details);
    assert.equal(await page.getAttribute('#tree-details', 'data-hash'), blocks.second.hash);

    const file = await screenshot(page.locator('#tree-card'), 'network-view.png');
    assert.deepEqual([...readFileSync(file).subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47], 'a PNG');
    if (process.env.JBC_WRITE_DOCS !== '1') rmSync(path.dirname(file), { recursive: true, force: true });
    assert.deepEqual(page.errors, []);
  });

  test('a /tree that answers an error is said in the panel; the page goes on', async () => {
    const body = JSON.stringify({ error: 'unavailable', message: 'the test broke /tree' });
    // GET /tree only (not the page's tree.js).
    const isTree = (url) => url.origin === a.url && url.pathname === '/tree';
    await page.route(isTree, (route) => route.fulfill({ status: 503, contentType: 'application/json', body }));
    await waitFor('the panel to say so', async () => (await page.textContent('#tree-note')).includes('HTTP 503 (unavailable: the test broke /tree)'), 20_000);
    // The page still follows the node: a new block shows in the chain table
    // and, from its `block` event, in the tree too.
    const tip = await getJson(`${a.url}/tip`);
    const block = await mine(tip.next, 'Mined by carol');
    await submit(a, block, 'accepted');
    await waitFor('the new height on the page', async () => (await page.textContent('#height')) === String(block.index), 20_000);
    await waitFor('the new block in the tree', async () => (await drawn(block.hash))?.branch === 'best', 20_000);
    assert.ok(await drawn(blocks.first.hash), 'the tree read before is still drawn');

    await page.unroute(isTree);
    await waitFor('the error gone', async () => !(await page.textContent('#tree-note')).includes('/tree'), 20_000);
    assert.deepEqual(page.errors, []);
  });
});
