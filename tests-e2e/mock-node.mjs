// A throwaway stand-in for jbc-node while it is being written: serves www/
// and a subset of the SPEC §7 API (no retargeting, no median-time rule).
// Usage: node mock-node.mjs PORT DIFFICULTY
import http from 'node:http';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';

const port = Number(process.argv[2] ?? 5000);
const difficulty = Number(process.argv[3] ?? 16);
const www = path.resolve(import.meta.dirname, '../www');
const sha = (b) => createHash('sha256').update(b).digest();
const params = { network: 'mock', initial_difficulty: difficulty, target_block_ms: 10000, retarget_window: 10, min_difficulty: difficulty, max_difficulty: 64 };
function headerHash(b) {
  const h = Buffer.alloc(96);
  h.write('JBC1', 0, 'latin1');
  h.writeBigUInt64BE(BigInt(b.index), 4);
  h.writeBigUInt64BE(BigInt(b.timestamp), 12);
  h.writeUInt32BE(b.difficulty, 20);
  Buffer.from(b.prev_hash, 'hex').copy(h, 24);
  sha(Buffer.from(b.data, 'utf8')).copy(h, 56);
  h.writeBigUInt64BE(BigInt(b.nonce), 88);
  return sha(h).toString('hex');
}
const zeros = (hex) => { let n = 0; for (const c of hex) { const v = parseInt(c, 16); if (v === 0) { n += 4; continue; } return n + Math.clz32(v) - 28; } return n; };
const g = { index: 0, timestamp: 0, data: `JBC1 genesis network=mock difficulty=${difficulty} block_ms=10000 window=10 min=${difficulty} max=64`, prev_hash: '0'.repeat(64), difficulty, nonce: 0 };
g.hash = headerHash(g);
const chain = [g];
const clients = new Set();
const tip = () => chain[chain.length - 1];
const send = (res, status, body) => { res.writeHead(status, { 'content-type': 'application/json', 'access-control-allow-origin': '*' }); res.end(JSON.stringify(body)); };
const emit = (name, data) => { for (const c of clients) c.write(`event: ${name}\ndata: ${JSON.stringify(data)}\n\n`); };
setInterval(() => emit('status', { height: tip().index, hash: tip().hash, hashes_per_sec: 0, peers: 0, peers_up: 0, mining: false }), 3000);
http.createServer(async (req, res) => {
  const url = new URL(req.url, 'http://x');
  if (req.method === 'OPTIONS') { res.writeHead(204, { 'access-control-allow-origin': '*', 'access-control-allow-headers': '*', 'access-control-allow-methods': '*' }); return res.end(); }
  if (url.pathname === '/tip') return send(res, 200, { height: tip().index, hash: tip().hash, work: String(chain.length * 2 ** difficulty), params, next: { index: tip().index + 1, prev_hash: tip().hash, difficulty, min_timestamp: tip().timestamp + 1 } });
  if (url.pathname === '/blockchain.json') return send(res, 200, chain);
  if (url.pathname === '/blocks') { const from = Number(url.searchParams.get('from') ?? 0); const limit = Number(url.searchParams.get('limit') ?? 100); return send(res, 200, chain.slice(from, from + limit)); }
  if (url.pathname === '/events') { res.writeHead(200, { 'content-type': 'text/event-stream', 'access-control-allow-origin': '*' }); res.write(': hi\n\n'); clients.add(res); req.on('close', () => clients.delete(res)); return; }
  if (url.pathname === '/mined' && req.method === 'POST') {
    let body = ''; for await (const c of req) body += c;
    let b; try { b = JSON.parse(body); } catch { return send(res, 400, { error: 'malformed', message: 'bad json' }); }
    if (headerHash(b) !== b.hash) return send(res, 422, { error: 'bad_hash', message: 'hash' });
    if (b.prev_hash !== tip().hash) return send(res, 200, { status: 'side', height: b.index, hash: b.hash });
    if (b.index !== tip().index + 1) return send(res, 422, { error: 'bad_index', message: 'index' });
    if (zeros(b.hash) < difficulty) return send(res, 422, { error: 'bad_pow', message: 'pow' });
    chain.push(b); emit('block', { source: 'submitted', block: b });
    return send(res, 200, { status: 'accepted', height: b.index, hash: b.hash });
  }
  const file = path.join(www, url.pathname === '/' ? 'index.html' : url.pathname);
  if (!file.startsWith(www)) return send(res, 404, { error: 'not_found', message: '' });
  try {
    const types = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.wasm': 'application/wasm' };
    const data = await readFile(file); res.writeHead(200, { 'content-type': types[path.extname(file)] ?? 'application/octet-stream' }); res.end(data);
  } catch { send(res, 404, { error: 'not_found', message: 'no such file' }); }
}).listen(port, '127.0.0.1', () => console.log(`mock node on ${port}`));
