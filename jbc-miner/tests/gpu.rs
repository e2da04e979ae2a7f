//! The wgpu path equals jbc-core's portable kernel.
use jbc_core::pow::Template;
use jbc_core::{BlockHash, Header, mine_round};
use jbc_miner::gpu::GpuMiner;

#[test]
fn smoke() {
    let gpu = match GpuMiner::new() {
        Ok(g) => g,
        Err(e) => {
            eprintln!("skip: {e}");
            return;
        }
    };
    eprintln!("adapter {}", gpu.adapter());
    let h = Header {
        index: 1,
        timestamp_ms: 5,
        difficulty: 14,
        prev_hash: BlockHash::ZERO,
        data_hash: BlockHash::ZERO,
        nonce: 0,
    };
    let t = Template::new(&h);
    for (s, n, m) in [
        (0u64, 200_000u64, 50_000u32),
        (u64::MAX - 100_000, 1 << 20, 1 << 20),
    ] {
        let t0 = std::time::Instant::now();
        let g = gpu.mine_round(&t, s, n, m).unwrap();
        eprintln!("{:?} {:?}", g, t0.elapsed());
        assert_eq!(g, mine_round(&t, s, n));
    }
}
