// Errors the page must make clear: an unreachable node, and a block the node
// rejects (the exception carries the protocol error code; the chain is unchanged).
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startNode, networkArgs, launchBrowser, openMiner, getJson, waitFor } from '../lib/harness.mjs';

/// A port nothing listens on: bound on port 0, then closed.
async function deadPort() {
  const server = net.createServer();
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address();
  await new Promise((r) => server.close(r));
  return port;
}

describe('errors', () => {
  let node, browser, page;

  before(async () => {
    node = await startNode(networkArgs('e2e-errors', 16));
    browser = await launchBrowser();
    page = await openMiner(browser.context, `${node.url}/`);
  });

  after(async () => {
    await browser?.close();
    await node?.stop();
  });

  test('a rejected block raises a JbcError with the protocol error code; the chain is unchanged', async () => {
    const before = await getJson(`${node.url}/blockchain.json`);
    const result = await page.evaluate(async () => {
      const { MiningJob } = await import('./pkg/scalar/jbc_web.js').then(async (m) => { await m.default(); return m; });
      const tip = JSON.parse(await jbcMiner.node.tip());
      const job = new MiningJob(JSON.stringify(tip.next), 'a bad block', Date.now());
      // The first nonce that does NOT meet the difficulty.
      let nonce = 0;
      while (job.mine(nonce, 1).found) nonce += 1;
      try {
        await jbcMiner.node.submit(job.blockJson(nonce));
        return { rejected: false };
      } catch (e) {
        return { rejected: true, name: e.name, code: e.code, status: e.status, message: e.message };
      }
    });
    assert.equal(result.rejected, true);
    assert.equal(result.name, 'JbcError');
    assert.equal(result.code, 'bad_pow');
    assert.equal(result.status, 422);
    assert.ok(result.message.length > 0);
    assert.deepEqual(await getJson(`${node.url}/blockchain.json`), before);
  });

  test('bad input from JavaScript raises a JbcError, not an opaque trap', async () => {
    const result = await page.evaluate(async () => {
      const m = await import('./pkg/scalar/jbc_web.js');
      await m.default();
      const attempt = (f) => { try { f(); return null; } catch (e) { return { name: e.name, code: e.code, message: e.message }; } };
      const next = JSON.stringify({ index: 1, prev_hash: '0'.repeat(64), difficulty: 8, min_timestamp: 1 });
      const job = new m.MiningJob(next, 'x', Date.now());
      return {
        badNext: attempt(() => new m.MiningJob('{"index": 1}', 'x', 0)),
        badNonce: attempt(() => job.mine(-1, 10)),
        hugeNonce: attempt(() => job.mine(2 ** 53, 10)),
        badUrl: attempt(() => new m.NodeClient('ftp://example')),
        bigData: attempt(() => new m.MiningJob(next, 'x'.repeat(5000), 0)),
      };
    });
    assert.equal(result.badNext.code, 'malformed');
    assert.equal(result.badNext.name, 'JbcError');
    assert.equal(result.badNonce.code, 'malformed');
    assert.equal(result.hugeNonce.code, 'malformed');
    assert.equal(result.badUrl.code, 'malformed');
    assert.match(result.badUrl.message, /http:\/\//);
    assert.equal(result.bigData.code, 'data_too_large');
  });

  test('a Rust panic reaches JavaScript as a readable JbcError', async () => {
    const result = await page.evaluate(async () => {
      const m = await import('./pkg/scalar/jbc_web.js');
      await m.default();
      try {
        m.panicForTest('test panic 42');
        return null;
      } catch (e) {
        return { name: e.name, code: e.code, message: e.message };
      }
    });
    assert.ok(result, 'the panic threw');
    assert.equal(result.name, 'JbcError');
    assert.equal(result.code, 'panic');
    assert.match(result.message, /^jbc-web panicked at .*js.rs:\d+: test panic 42$/);
  });

  test('an unreachable node shows a clear error', async () => {
    const port = await deadPort();
    await page.fill('#node-url', `http://127.0.0.1:${port}`);
    await page.click('#connect');
    await waitFor('the error banner', () => page.isVisible('#error'), 20_000);
    const text = await page.textContent('#error');
    assert.match(text, /Cannot reach the node at http:\/\/127\.0\.0\.1:\d+/);
    assert.ok(text.includes(String(port)));
    assert.equal(await page.textContent('#conn'), 'unreachable');

    // Connecting back to the live node clears it.
    await page.fill('#node-url', node.url);
    await page.click('#connect');
    await waitFor('the banner to clear', async () => !(await page.isVisible('#error')), 20_000);
    assert.match(await page.textContent('#conn'), /connected/);
  });
});
