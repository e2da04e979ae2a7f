// GPU mining through WebGPU: jbc-core's WGSL shader (wasm.gpuShader()),
// with the uniform bytes and the result decoding from jbc-web
// (MiningJob.gpuDispatch / gpuResult), so the page only makes WebGPU calls.
//
//   const gpu = await openGpu(wasm);   // {ok: false, reason} without WebGPU
//   const round = await gpu.mine(job, startNonce, count);  // like job.mine()
//   const best = gpu.dispatch(d);      // a GpuDispatch in flight: Promise<u32>
//
// A dispatch tries `count` nonces (at most 2^30); its Round is exactly what
// job.mine(startNonce, count) returns. Up to `gpu.depth` dispatches are in
// flight at once, each in its own slot (uniform, result and read-back
// buffers): the page's loop submits the next one before it reads the last,
// so the GPU does not wait for the round trip.

const UNIFORM_BYTES = 160;
// Slots, so dispatches in flight: while the GPU runs one, the next waits
// behind it and the page reads the one before.
const DEPTH = 2;

// Why this browser cannot mine on a GPU, or null if it might.
function missingWebGpu() {
  if (!('gpu' in navigator)) {
    return window.isSecureContext === false
      ? 'WebGPU needs a secure context (https:// or http://127.0.0.1)'
      : 'this browser has no WebGPU (navigator.gpu is missing)';
  }
  return null;
}

function describe(adapter) {
  const info = adapter.info ?? {};
  const parts = [info.vendor, info.architecture, info.device, info.description].filter((p) => p);
  const name = parts.length ? [...new Set(parts)].join(' ') : 'unnamed adapter';
  // SwiftShader (Chromium's CPU Vulkan) names itself; so do lavapipe/llvmpipe.
  const software = /swiftshader|llvmpipe|lavapipe|software/i.test(name) || adapter.isFallbackAdapter === true
    || info.isFallbackAdapter === true;
  return { name, software };
}

// Opens the GPU: {ok: true, name, software, depth, noResult, mine, dispatch,
// destroy} or {ok: false, reason}.
export async function openGpu(wasm) {
  const missing = missingWebGpu();
  if (missing) return { ok: false, reason: missing };
  let adapter;
  try {
    adapter = await navigator.gpu.requestAdapter({ powerPreference: 'high-performance' });
  } catch (error) {
    return { ok: false, reason: `WebGPU refused an adapter: ${error.message}` };
  }
  if (!adapter) return { ok: false, reason: 'WebGPU is there but offers no adapter (no usable GPU or driver)' };
  const { name, software } = describe(adapter);
  let device;
  try {
    device = await adapter.requestDevice();
  } catch (error) {
    return { ok: false, reason: `the GPU adapter ${name} refused a device: ${error.message}` };
  }
  let lost = null;
  device.lost.then((info) => { lost = info.message || info.reason || 'device lost'; });

  device.pushErrorScope('validation');
  const module = device.createShaderModule({ code: wasm.gpuShader() });
  const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
  const slots = Array.from({ length: DEPTH }, () => {
    // The parameters: storage, read-only in the shader (see jbc-core's gpu.wgsl).
    const uniform = device.createBuffer({ size: UNIFORM_BYTES, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
    const result = device.createBuffer({ size: 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC });
    const readback = device.createBuffer({ size: 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const bindGroup = device.createBindGroup({
      layout: pipeline.getBindGroupLayout(0),
      entries: [{ binding: 0, resource: { buffer: uniform } }, { binding: 1, resource: { buffer: result } }],
    });
    // `free` resolves once the slot's last dispatch was read.
    return { uniform, result, readback, bindGroup, free: Promise.resolve() };
  });
  const setupError = await device.popErrorScope();
  if (setupError) return { ok: false, reason: `the shader does not compile on ${name}: ${setupError.message}` };
  const noResult = new Uint32Array([wasm.gpuNoResult()]);

  // Submits one GpuDispatch in `slot` and resolves to the u32 the shader
  // left, once the GPU is done with it.
  async function runIn(slot, d) {
    if (lost) throw new Error(`the GPU was lost: ${lost}`);
    device.queue.writeBuffer(slot.uniform, 0, d.uniform);
    device.queue.writeBuffer(slot.result, 0, noResult);
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, slot.bindGroup);
    pass.dispatchWorkgroups(d.workgroups);
    pass.end();
    encoder.copyBufferToBuffer(slot.result, 0, slot.readback, 0, 4);
    device.queue.submit([encoder.finish()]);
    await slot.readback.mapAsync(GPUMapMode.READ);
    const best = new Uint32Array(slot.readback.getMappedRange().slice(0))[0];
    slot.readback.unmap();
    return best;
  }

  // Puts a GpuDispatch in flight in the next slot (after that slot's last
  // dispatch was read) without waiting for the ones before it; resolves to
  // the u32 the shader left. Results come back in submission order.
  let next = 0;
  function dispatch(d) {
    const slot = slots[next];
    next = (next + 1) % slots.length;
    const run = slot.free.then(() => runIn(slot, d));
    slot.free = run.catch(() => {});
    return run;
  }

  // job.mine(start, count) on the GPU: one dispatch of `count` nonces.
  async function mine(job, start, count) {
    const d = job.gpuDispatch(start, count);
    if (!d) return job.mine(start, 0);
    try {
      const best = await dispatch(d);
      return job.gpuResult(d, best);
    } finally {
      d.free();
    }
  }

  return {
    ok: true, name, software, depth: DEPTH, noResult: noResult[0], mine, dispatch,
    destroy: () => device.destroy(),
  };
}
