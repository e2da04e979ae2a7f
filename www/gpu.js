// GPU mining through WebGPU: jbc-core's WGSL shader (wasm.gpuShader()),
// with the uniform bytes and the result decoding from jbc-web
// (MiningJob.gpuDispatch / gpuResult), so the page only makes WebGPU calls.
//
//   const gpu = await openGpu(wasm);   // {ok: false, reason} without WebGPU
//   const round = await gpu.mine(job, startNonce, count);  // like job.mine()
//
// A dispatch tries `count` nonces (at most 2^30); its Round is exactly what
// job.mine(startNonce, count) returns.

const UNIFORM_BYTES = 160;

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

// Opens the GPU: {ok: true, name, software, mine, dispatch, destroy} or
// {ok: false, reason}.
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
  const uniform = device.createBuffer({ size: UNIFORM_BYTES, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
  const result = device.createBuffer({ size: 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC });
  const readback = device.createBuffer({ size: 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const bindGroup = device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: [{ binding: 0, resource: { buffer: uniform } }, { binding: 1, resource: { buffer: result } }],
  });
  const setupError = await device.popErrorScope();
  if (setupError) return { ok: false, reason: `the shader does not compile on ${name}: ${setupError.message}` };
  const noResult = new Uint32Array([wasm.gpuNoResult()]);

  // One dispatch at a time: the buffers are shared.
  let busy = Promise.resolve();

  // Runs one GpuDispatch; resolves to the u32 the shader left.
  async function runDispatch(d) {
    if (lost) throw new Error(`the GPU was lost: ${lost}`);
    device.queue.writeBuffer(uniform, 0, d.uniform);
    device.queue.writeBuffer(result, 0, noResult);
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(d.workgroups);
    pass.end();
    encoder.copyBufferToBuffer(result, 0, readback, 0, 4);
    device.queue.submit([encoder.finish()]);
    await readback.mapAsync(GPUMapMode.READ);
    const best = new Uint32Array(readback.getMappedRange().slice(0))[0];
    readback.unmap();
    return best;
  }

  function dispatch(d) {
    const run = busy.then(() => runDispatch(d));
    busy = run.catch(() => {});
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
    ok: true, name, software, mine, dispatch,
    destroy: () => device.destroy(),
  };
}
