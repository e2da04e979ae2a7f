// Shared pieces of the end-to-end tests: a real jbc-node child process on
// port 0, headless Chromium through playwright-core, bounded waits.
import { spawn, execFile } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

export const ROOT = path.resolve(import.meta.dirname, '../..');
export const CHROMIUM = process.env.JBC_CHROMIUM ?? '/usr/bin/chromium';
// Cargo's target directory: `cargo xtask test` passes the real one (which
// CARGO_TARGET_DIR may move away from <root>/target).
export const TARGET_DIR = process.env.JBC_TARGET_DIR ?? path.join(ROOT, 'target');
export const NODE_BIN = path.join(TARGET_DIR, 'debug/jbc-node');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
// A timeout for Promise.race that does not keep the process alive.
const grace = (ms) => new Promise((r) => setTimeout(r, ms).unref());

/// Polls `fn` until it returns a truthy value (returned) or `timeoutMs`
/// passes (throws with `what`).
export async function waitFor(what, fn, timeoutMs = 30_000, everyMs = 100) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    try {
      const value = await fn();
      if (value) return value;
    } catch (error) {
      last = error;
    }
    await sleep(everyMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${last.message})` : ''}`);
}

/// Starts target/debug/jbc-node on 127.0.0.1 port 0 with a fresh data dir and
/// `args`; resolves when it logs its URL. `stop()` kills it and removes the dir.
export async function startNode(args, { timeoutMs = 30_000 } = {}) {
  if (!existsSync(NODE_BIN)) throw new Error(`${NODE_BIN} is missing: run cargo build -p jbc-node`);
  const dataDir = mkdtempSync(path.join(tmpdir(), 'jbc-e2e-'));
  const child = spawn(NODE_BIN, ['--host', '127.0.0.1', '--port', '0', '--data-dir', dataDir, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NO_COLOR: '1', RUST_LOG: process.env.RUST_LOG ?? 'info' },
  });
  let log = '';
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`jbc-node did not start within ${timeoutMs} ms:\n${log}`)), timeoutMs);
    const onData = (chunk) => {
      log += chunk.toString();
      // The node logs `node started url=http://127.0.0.1:PORT` (colour codes stripped).
      const match = log.replace(/\x1b\[[0-9;]*m/g, '').match(/node started.*?url=(http:\/\/127\.0\.0\.1:\d+)/);
      if (match) { clearTimeout(timer); resolve(match[1]); }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`jbc-node exited with ${code}:\n${log}`)); });
  });
  child.removeAllListeners('exit');
  // Stopping twice is fine: a child killed by a signal has a signalCode.
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await Promise.race([exited, grace(5_000)]);
    }
    rmSync(dataDir, { recursive: true, force: true });
  };
  return { url, child, stop, log: () => log };
}

/// Network flags: a fresh network at a fixed difficulty (no retargeting in
/// practice: a long block time and a huge window).
export function networkArgs(name, difficulty) {
  return ['--network', name, '--difficulty', String(difficulty), '--min-difficulty', String(difficulty),
    '--block-time-ms', '600000', '--retarget-window', '100000', '--www', path.join(ROOT, 'www')];
}

export async function getJson(url, timeoutMs = 10_000) {
  const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  if (!response.ok) throw new Error(`GET ${url}: HTTP ${response.status}`);
  return response.json();
}

export async function postJson(url, body, timeoutMs = 10_000) {
  const response = await fetch(url, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body,
    signal: AbortSignal.timeout(timeoutMs),
  });
  return { status: response.status, body: await response.json() };
}

/// Chromium flags that give WebGPU a software adapter (SwiftShader's Vulkan,
/// which Debian's Chromium ships) on a page from 127.0.0.1.
export const WEBGPU_ARGS = ['--enable-unsafe-webgpu', '--use-webgpu-adapter=swiftshader', '--enable-unsafe-swiftshader'];

/// Headless Chromium with a fresh profile; `{webgpu: true}` adds
/// WEBGPU_ARGS (and keeps the GPU process that WebGPU runs in).
export async function launchBrowser({ webgpu = false } = {}) {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing (apt-get install chromium, or cargo xtask setup)`);
  const profile = mkdtempSync(path.join(tmpdir(), 'jbc-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 1000 },
    timeout: 30_000,
    args: ['--headless', '--no-sandbox', ...(webgpu ? WEBGPU_ARGS : ['--disable-gpu']), '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const close = async () => {
    await Promise.race([context.close(), grace(10_000)]);
    rmSync(profile, { recursive: true, force: true });
  };
  return { context, close };
}

/// Opens the miner page and waits until its wasm is loaded and it has asked
/// the node for its tip once. Page errors are collected in `page.errors`.
export async function openMiner(context, url) {
  const page = await context.newPage();
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(e.message));
  await page.goto(url, { timeout: 30_000 });
  await page.waitForFunction(() => window.jbcMiner?.loaded === true, null, { timeout: 30_000 });
  return page;
}

/// Screenshots `locator` into docs/NAME when JBC_WRITE_DOCS=1 (how the
/// README's pictures are made: `JBC_WRITE_DOCS=1 npm test`), else into a
/// fresh temporary directory; resolves to the file's path.
export async function screenshot(locator, name) {
  const dir = process.env.JBC_WRITE_DOCS === '1' ? path.join(ROOT, 'docs') : mkdtempSync(path.join(tmpdir(), 'jbc-shot-'));
  const file = path.join(dir, name);
  await locator.screenshot({ path: file, timeout: 30_000 });
  return file;
}

/// Runs a program with a timeout; resolves to its stdout.
export function run(file, args, timeoutMs) {
  return new Promise((resolve, reject) => {
    execFile(file, args, { cwd: ROOT, timeout: timeoutMs, maxBuffer: 16 << 20 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${file} ${args.join(' ')} failed: ${error.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}
