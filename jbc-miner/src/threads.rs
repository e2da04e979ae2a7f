//! The mining threads: CPU threads running jbc-core's fastest kernel, and
//! one GPU thread driving the shader through wgpu ([`GpuLoop`]). Each takes
//! the current [`Job`](crate::work::Job) from [`Work`], mines its own nonce
//! lane in rounds sized by a [`Pacer`], checks the generation between rounds
//! (so a new tip replaces the job within one round), and sends what it
//! finds.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use jbc_core::RoundResult;
use tokio::sync::mpsc::UnboundedSender;

pub use crate::found::{Counters, Device, Found};
use crate::gpu::GpuMiner;
use crate::gpu_loop::GpuLoop;
use crate::work::{Pacer, Work};

/// Target duration of a CPU round: a new tip is picked up within about 2 ms.
pub const CPU_ROUND: Duration = Duration::from_millis(2);

/// Default target duration of a GPU dispatch. With
/// [`PIPELINE_DEPTH`](crate::pipeline::PIPELINE_DEPTH) of them in flight,
/// the work of an old tip still queued when a new one comes is at most about
/// 40 ms (0.4 % of a 10 s block), and the cost of each dispatch that the
/// pipeline cannot hide (on lavapipe, which runs dispatches on the CPU one
/// after the other: 2–5 ms on a busy machine) stays a small part of it.
pub const GPU_DISPATCH: Duration = Duration::from_millis(20);

/// Starts `threads` CPU mining threads (lanes `0..threads`).
pub fn spawn_cpu(
    threads: usize,
    work: &Arc<Work>,
    counters: &Arc<Counters>,
    found: &UnboundedSender<Found>,
) -> Vec<JoinHandle<()>> {
    (0..threads)
        .map(|lane| {
            let (work, counters, found) = (work.clone(), counters.clone(), found.clone());
            std::thread::Builder::new()
                .name(format!("cpu-{lane}"))
                .spawn(move || cpu_thread(lane as u64, &work, &counters, &found))
                .expect("spawn a mining thread")
        })
        .collect()
}

fn cpu_thread(lane: u64, work: &Work, counters: &Counters, found: &UnboundedSender<Found>) {
    let mut seen = 0;
    let mut pacer = Pacer::new(CPU_ROUND, 1 << 10, 1 << 24);
    while let Some(job) = work.next_job(seen) {
        seen = job.generation;
        let mut nonce = job.lane_start(lane);
        while work.generation() == job.generation {
            let started = Instant::now();
            let size = pacer.size();
            match jbc_core::mine_round(&job.template, nonce, size) {
                RoundResult::Found { nonce: hit, .. } => {
                    counters
                        .cpu_hashes
                        .fetch_add(hit - nonce + 1, Ordering::Relaxed);
                    let _ = found.send(Found {
                        generation: job.generation,
                        nonce: hit,
                        device: Device::Cpu,
                    });
                    break;
                }
                RoundResult::Exhausted { next_nonce } => {
                    let next = next_nonce.unwrap_or(0);
                    counters
                        .cpu_hashes
                        .fetch_add(next.wrapping_sub(nonce), Ordering::Relaxed);
                    // At the top of the nonce space, wrap around to 0.
                    nonce = next;
                }
            }
            pacer.record(started.elapsed());
        }
    }
}

/// Starts the GPU thread on nonce lane `lane`, with dispatches sized to
/// take about `dispatch_target` and [`GpuMiner::new`]'s depth of them in
/// flight ([`GpuLoop`]). A dispatch that fails ends the thread after calling
/// `on_error` (the CPU threads go on).
pub fn spawn_gpu(
    gpu: GpuMiner,
    lane: u64,
    dispatch_target: Duration,
    work: &Arc<Work>,
    counters: &Arc<Counters>,
    found: &UnboundedSender<Found>,
    on_error: impl FnOnce(String) + Send + 'static,
) -> JoinHandle<()> {
    let (work, counters, found) = (work.clone(), counters.clone(), found.clone());
    std::thread::Builder::new()
        .name("gpu".into())
        .spawn(move || {
            let result = GpuLoop::new(&gpu, lane, dispatch_target)
                .and_then(|mut gpu_loop| gpu_loop.run(&work, &counters, &found));
            if let Err(e) = result {
                on_error(e.to_string());
            }
        })
        .expect("spawn the GPU thread")
}
