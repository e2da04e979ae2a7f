//! The chain as files: `jbc-node export` → `jbc-node import` round-trips
//! 10 000 blocks (the real binary), an import with one altered block (or
//! a missing parent, or another network's genesis) is refused naming the
//! block and the rule and leaves the database as it was, a refused import
//! into a new data dir leaves no data dir behind, and `--chaindir` follows
//! a reorganisation.
//!
//! `cargo test --release -p jbc-node --test chainfiles -- --ignored --nocapture`
//! prints the figures of 100 000 blocks (export, import, restart).

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use jbc_core::{Block, Chain, Params};
use jbc_node::chainfiles::{self, ChainFilesError, ImportArgs, NetworkFlags};
use jbc_node::store::{Durability, FILE_NAME, Store};

const BIN: &str = env!("CARGO_BIN_EXE_jbc-node");

const FLAGS: [&str; 10] = DIFFICULTY_1_FLAGS;

fn params() -> Params {
    params_of(&FLAGS)
}

/// Mines `count` blocks on `chain`'s tip, 10 ms apart, in the past.
fn extend(chain: &mut Chain, count: u64, tag: &str) -> Vec<Block> {
    extend_with(chain, count, |i| format!("{tag} #{i}"))
}

/// A data dir holding `blocks` (parents first).
fn data_dir_with(dir: &Path, blocks: &[Block]) {
    let (store, _, _) = Store::open(dir, &params()).expect("open");
    for batch in blocks.chunks(10_000) {
        store.append(batch, Durability::Deferred).expect("append");
    }
    store.flush().expect("flush");
}

/// Runs the binary with `args` to its end (at most 120 s): (success, stdout, stderr).
fn run(args: &[&str]) -> (bool, String, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn jbc-node");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            let output = child.wait_with_output().expect("output");
            return (
                status.success(),
                String::from_utf8_lossy(&output.stdout).into_owned(),
                String::from_utf8_lossy(&output.stderr).into_owned(),
            );
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("jbc-node {args:?} did not end within 120 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn s(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// (blocks stored, best tip) of a data dir.
fn load(dir: &Path) -> (u64, jbc_core::BlockHash, u64) {
    let (store, chain, _) = Store::open(dir, &params()).expect("open");
    (store.len(), chain.tip().hash, chain.height())
}

fn file_size(dir: &Path) -> u64 {
    std::fs::metadata(dir.join(FILE_NAME)).expect("db").len()
}

#[test]
fn export_then_import_round_trips_10000_blocks() {
    let root = temp_dir("files-round-trip");
    let mut chain = Chain::new(params());
    let blocks = extend(&mut chain, 10_000, "main");
    let tip_before = chain.tip().hash;
    let source = root.join("source");
    data_dir_with(&source, &blocks);
    assert_eq!(load(&source).1, tip_before);

    // JSON lines.
    let jsonl = root.join("chain.jsonl");
    let (ok, out, err) = run(&["export", "--data-dir", &s(&source), "--out", &s(&jsonl)]);
    assert!(ok, "export failed: {err}");
    assert!(
        out.contains("exported 10001 blocks (height 10000)"),
        "{out}"
    );
    let copy = root.join("copy");
    let mut import = vec!["import", "--data-dir"];
    let copy_s = s(&copy);
    import.push(&copy_s);
    import.extend_from_slice(&FLAGS);
    let jsonl_s = s(&jsonl);
    import.push(&jsonl_s);
    let (ok, out, err) = run(&import);
    assert!(ok, "import failed: {err}");
    assert!(out.contains("10000 stored, 1 known; height 10000"), "{out}");
    assert_eq!(load(&copy), (10_000, tip_before, 10_000));

    // A folder of <height>.json files, into a fresh data dir.
    let folder = root.join("chaindata");
    let (ok, _, err) = run(&[
        "export",
        "--data-dir",
        &s(&source),
        "--out",
        &s(&folder),
        "--format",
        "dir",
    ]);
    assert!(ok, "export failed: {err}");
    assert!(folder.join("0.json").is_file() && folder.join("10000.json").is_file());
    let block: Block =
        serde_json::from_slice(&std::fs::read(folder.join("5000.json")).expect("read"))
            .expect("a block");
    assert_eq!(Some(&block), chain.block_at(5_000));
    let again = root.join("again");
    let mut import = vec!["import", "--data-dir"];
    let again_s = s(&again);
    import.push(&again_s);
    import.extend_from_slice(&FLAGS);
    let folder_s = s(&folder);
    import.push(&folder_s);
    let (ok, _, err) = run(&import);
    assert!(ok, "import failed: {err}");
    assert_eq!(load(&again), (10_000, tip_before, 10_000));

    // Importing the same again stores nothing new.
    let (ok, out, _) = run(&["import", "--data-dir", &again_s, &jsonl_s]);
    assert!(ok);
    assert!(out.contains("0 stored, 10001 known"), "{out}");
    assert_eq!(load(&again), (10_000, tip_before, 10_000));

    // A non-empty folder is not exported into.
    let (ok, _, err) = run(&[
        "export",
        "--data-dir",
        &s(&source),
        "--out",
        &folder_s,
        "--format",
        "dir",
    ]);
    assert!(!ok && err.contains("not empty"), "{err}");
}

#[test]
fn export_all_keeps_side_branches_with_names_that_cannot_collide() {
    let root = temp_dir("files-all");
    let mut chain = Chain::new(params());
    let mut blocks = extend(&mut chain, 20, "main");
    // A competitor of the tip with the same work: stored as `side`.
    let mut side = Chain::new(params());
    for block in &blocks[..19] {
        side.accept(block.clone(), now_ms()).expect("valid");
    }
    let rival = extend(&mut side, 1, "rival");
    assert_eq!(
        chain
            .accept(rival[0].clone(), now_ms())
            .expect("valid")
            .status,
        jbc_core::Status::Side
    );
    blocks.extend(rival.clone());
    let source = root.join("source");
    data_dir_with(&source, &blocks);

    let folder = root.join("all");
    let (ok, out, err) = run(&[
        "export",
        "--data-dir",
        &s(&source),
        "--out",
        &s(&folder),
        "--format",
        "dir",
        "--all",
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("exported 22 blocks"), "{out}");
    for block in [&blocks[19], &rival[0]] {
        assert!(folder.join(format!("20-{}.json", block.hash)).is_file());
    }
    let copy = root.join("copy");
    let args = ImportArgs {
        data_dir: copy.clone(),
        path: folder,
        network: flags(),
    };
    let stats = chainfiles::import(&args).expect("import");
    assert_eq!(stats.stored, 21);
    let (stored, _, height) = load(&copy);
    assert_eq!((stored, height), (21, 20));
}

fn flags() -> NetworkFlags {
    NetworkFlags {
        network: Some("filesbench".into()),
        difficulty: Some(1),
        block_time_ms: Some(10),
        retarget_window: Some(10),
        min_difficulty: Some(1),
    }
}

/// A data dir with the first 100 blocks of a 300-block chain, and the
/// chain's JSON lines.
fn half_imported(root: &Path) -> (std::path::PathBuf, Vec<String>) {
    let mut chain = Chain::new(params());
    let blocks = extend(&mut chain, 300, "main");
    let db = root.join("db");
    data_dir_with(&db, &blocks[..100]);
    let mut lines = vec![jbc_core::genesis(chain.params()).to_json()];
    lines.extend(blocks.iter().map(Block::to_json));
    (db, lines)
}

#[test]
fn an_altered_block_is_refused_by_name_and_the_database_is_unchanged() {
    let root = temp_dir("files-altered");
    let (db, mut lines) = half_imported(&root);
    let (count, tip, height) = load(&db);
    let size = file_size(&db);
    // Block 200 with other data: its hash no longer matches.
    let mut block: Block = serde_json::from_str(&lines[200]).expect("block");
    block.data = "altered".into();
    let hash = block.hash;
    lines[200] = block.to_json();
    let file = root.join("altered.jsonl");
    std::fs::write(&file, lines.join("\n")).expect("write");

    let (ok, _, err) = run(&["import", "--data-dir", &s(&db), &s(&file)]);
    assert!(!ok, "an altered import must fail");
    assert!(
        err.contains(&format!("block 200 {hash} is invalid (bad_hash)")),
        "{err}"
    );
    assert!(err.contains("nothing was imported"), "{err}");
    assert_eq!(load(&db), (count, tip, height));
    assert_eq!(file_size(&db), size);
}

#[test]
fn every_other_refusal_leaves_the_database_unchanged() {
    let root = temp_dir("files-refusals");
    let (db, lines) = half_imported(&root);
    let before = (load(&db), file_size(&db));
    let import = |name: &str, lines: &[String]| {
        let file = root.join(name);
        std::fs::write(&file, lines.join("\n")).expect("write");
        chainfiles::import(&ImportArgs {
            data_dir: db.clone(),
            path: file,
            network: NetworkFlags::default(),
        })
    };

    // A block whose parent is missing (line 150 left out).
    let mut gap = lines.clone();
    let missing: Block = serde_json::from_str(&gap.remove(150)).expect("block");
    match import("gap.jsonl", &gap) {
        Err(ChainFilesError::UnknownParent { height, parent, .. }) => {
            assert_eq!((height, parent), (151, missing.hash));
        }
        other => panic!("expected UnknownParent, got {other:?}"),
    }
    assert_eq!((load(&db), file_size(&db)), before);

    // A block with too little work for its difficulty (bad_pow) or a wrong
    // index (bad_index): the first failure is the reason.
    let mut bad: Block = serde_json::from_str(&lines[250]).expect("block");
    bad.index += 1;
    let mut wrong = lines.clone();
    wrong[250] = bad.to_json();
    match import("index.jsonl", &wrong) {
        Err(ChainFilesError::Invalid { height, reason, .. }) => {
            assert_eq!(height, 251);
            assert!(
                ["bad_hash", "bad_index"].contains(&reason.code()),
                "{reason}"
            );
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
    assert_eq!((load(&db), file_size(&db)), before);

    // Another network's genesis.
    let mut other = lines.clone();
    other[0] = jbc_core::genesis(&params_of(&VECTOR_FLAGS)).to_json();
    assert!(matches!(
        import("other.jsonl", &other),
        Err(ChainFilesError::OtherGenesis { .. })
    ));
    assert_eq!((load(&db), file_size(&db)), before);

    // A line that is not a block.
    let mut junk = lines.clone();
    junk[10] = "{\"not\": \"a block\"}".into();
    match import("junk.jsonl", &junk) {
        Err(ChainFilesError::Malformed { line, .. }) => assert_eq!(line, Some(11)),
        other => panic!("expected Malformed, got {other:?}"),
    }
    assert_eq!((load(&db), file_size(&db)), before);

    // Flags of another network than the database's.
    let mut wrong_net = flags();
    wrong_net.network = Some("elsewhere".into());
    let file = root.join("fine.jsonl");
    std::fs::write(&file, lines.join("\n")).expect("write");
    assert!(matches!(
        chainfiles::import(&ImportArgs {
            data_dir: db.clone(),
            path: file.clone(),
            network: wrong_net,
        }),
        Err(ChainFilesError::Store(_))
    ));
    assert_eq!((load(&db), file_size(&db)), before);

    // Export from a data dir with no database creates none.
    let empty = root.join("no-db");
    assert!(matches!(
        chainfiles::export(&chainfiles::ExportArgs {
            data_dir: empty.clone(),
            out: root.join("out.jsonl"),
            format: chainfiles::Format::Jsonl,
            all: false,
            network: NetworkFlags::default(),
        }),
        Err(ChainFilesError::NoDatabase(_))
    ));
    assert!(!empty.exists() && !root.join("out.jsonl").exists());

    // And the good file goes in.
    let stats = chainfiles::import(&ImportArgs {
        data_dir: db.clone(),
        path: file,
        network: NetworkFlags::default(),
    })
    .expect("import");
    assert_eq!((stats.stored, stats.known, stats.height), (200, 101, 300));
}

#[test]
fn a_refused_import_into_a_new_data_dir_leaves_none_and_the_retry_succeeds() {
    let root = temp_dir("files-new-dir");
    let mut chain = Chain::new(params());
    let blocks = extend(&mut chain, 50, "main");
    let source = root.join("source");
    data_dir_with(&source, &blocks);
    let jsonl = root.join("chain.jsonl");
    let (ok, _, err) = run(&["export", "--data-dir", &s(&source), "--out", &s(&jsonl)]);
    assert!(ok, "export failed: {err}");

    // No network flags (the node's defaults), only some of them, or
    // flags that define no network: refused, and no data dir appears.
    let new = root.join("new");
    let (new_dir, file) = (s(&new), s(&jsonl));
    let attempts: [&[&str]; 3] = [&[], &["--network", "filesbench"], &["--difficulty", "99"]];
    for flags in attempts {
        let mut args = vec!["import", "--data-dir", &new_dir];
        args.extend_from_slice(flags);
        args.push(&file);
        let (ok, _, err) = run(&args);
        assert!(!ok, "import with {flags:?} must be refused");
        let reason = if flags.contains(&"99") {
            "invalid network flags"
        } else {
            "give the network flags they were made with"
        };
        assert!(err.contains(reason), "{flags:?}: {err}");
        assert!(!new.exists(), "{flags:?} left {} behind", new.display());
    }

    // An existing, empty data dir stays empty.
    let empty = root.join("empty");
    std::fs::create_dir(&empty).expect("mkdir");
    let (ok, _, _) = run(&["import", "--data-dir", &s(&empty), &s(&jsonl)]);
    assert!(!ok);
    assert_eq!(std::fs::read_dir(&empty).expect("read").count(), 0);

    // The retry with the right flags goes in.
    let mut args = vec!["import", "--data-dir", &new_dir];
    args.extend_from_slice(&FLAGS);
    args.push(&file);
    let (ok, out, err) = run(&args);
    assert!(ok, "retry failed: {err}");
    assert!(out.contains("50 stored"), "{out}");
    assert_eq!(load(&new), (50, chain.tip().hash, 50));
}

/// The hash in `<height>.json` of `dir`, if readable.
fn file_hash(dir: &Path, height: u64) -> Option<jbc_core::BlockHash> {
    let bytes = std::fs::read(dir.join(format!("{height}.json"))).ok()?;
    serde_json::from_slice::<Block>(&bytes).ok().map(|b| b.hash)
}

#[tokio::test]
async fn chaindir_follows_a_reorganisation() {
    let root = temp_dir("files-chaindir");
    let folder = root.join("chaindata");
    let folder_s = s(&folder);
    let mut args: Vec<&str> = VECTOR_FLAGS.to_vec();
    args.extend(["--chaindir", &folder_s]);
    let node = start(&root.join("db"), &args).await;
    let mined = format!("{}/mined", node.url());
    let params = params_of(&VECTOR_FLAGS);
    let mine_on = |chain: &mut Chain, count: usize, tag: &str| -> Vec<Block> {
        (0..count)
            .map(|i| {
                let next = chain.next_rules();
                let block = mine(
                    &next,
                    &format!("{tag} {i}"),
                    now_ms().max(next.min_timestamp_ms),
                );
                chain.accept(block.clone(), now_ms()).expect("valid");
                block
            })
            .collect()
    };
    let mut a = Chain::new(params.clone());
    let main = mine_on(&mut a, 3, "a");
    let mut b = Chain::new(params);
    b.accept(main[0].clone(), now_ms()).expect("valid");
    let branch = mine_on(&mut b, 3, "b");
    for block in &main {
        let (status, _) = post(&mined, block.to_json()).await;
        assert_eq!(status, 200);
    }
    let mut events = [node.node.subscribe()];
    let genesis = a.genesis().hash;
    let on_a = || {
        file_hash(&folder, 0) == Some(genesis)
            && (1..=3).all(|h| file_hash(&folder, h) == Some(main[h as usize - 1].hash))
    };
    assert!(
        wait_until(&mut events, Duration::from_secs(20), on_a).await,
        "the folder holds blocks 0..=3"
    );
    // A heavier branch forking at 1: files 2 and 3 are replaced, 4 appears.
    for block in &branch {
        let (status, _) = post(&mined, block.to_json()).await;
        assert_eq!(status, 200);
    }
    assert_eq!(node.node.chain().tip().hash, branch[2].hash);
    let on_b = || {
        file_hash(&folder, 1) == Some(main[0].hash)
            && (2..=4).all(|h| file_hash(&folder, h) == Some(branch[h as usize - 2].hash))
    };
    assert!(
        wait_until(&mut events, Duration::from_secs(20), on_b).await,
        "the folder follows the reorganisation"
    );
    node.shutdown().await.expect("shutdown");

    // Restarted, the node keeps the folder as it is (and fixes a damaged file).
    std::fs::write(folder.join("3.json"), "damaged").expect("write");
    std::fs::write(folder.join("9.json"), main[0].to_json()).expect("write");
    let node = start(&root.join("db"), &args).await;
    let mut events = [node.node.subscribe()];
    let fixed = || on_b() && !folder.join("9.json").exists();
    assert!(
        wait_until(&mut events, Duration::from_secs(20), fixed).await,
        "the folder is repaired after a restart"
    );
    node.shutdown().await.expect("shutdown");
}

/// Figures of 100 000 blocks: export (jsonl, dir), import, restart.
#[test]
#[ignore = "figures: run in release with --ignored --nocapture"]
fn figures_100k() {
    let root = temp_dir("files-figures");
    let started = Instant::now();
    let mut chain = Chain::new(params());
    let blocks = extend(&mut chain, 100_000, "main");
    let source = root.join("source");
    data_dir_with(&source, &blocks);
    println!(
        "made 100000 blocks in {:.2} s",
        started.elapsed().as_secs_f64()
    );
    let opened = Instant::now();
    drop(Store::open(&source, &params()).expect("open"));
    println!(
        "restart of the source (Store::open, 100000 blocks written in 10 deferred batches): {:.2} s",
        opened.elapsed().as_secs_f64()
    );
    let timed = |args: &[&str]| {
        let started = Instant::now();
        let (ok, out, err) = run(args);
        assert!(ok, "{err}");
        println!(
            "jbc-node {}: {:.2} s\n  {}",
            args[0],
            started.elapsed().as_secs_f64(),
            out.trim()
        );
    };
    let jsonl = s(&root.join("chain.jsonl"));
    timed(&["export", "--data-dir", &s(&source), "--out", &jsonl]);
    timed(&[
        "export",
        "--data-dir",
        &s(&source),
        "--out",
        &s(&root.join("dir")),
        "--format",
        "dir",
    ]);
    let copy = s(&root.join("copy"));
    let mut import = vec!["import", "--data-dir", &copy];
    import.extend_from_slice(&FLAGS);
    import.push(&jsonl);
    timed(&import);
    let started = Instant::now();
    let (store, chain2, stats) = Store::open(&root.join("copy"), &params()).expect("open");
    println!(
        "restart (Store::open, replay of {} blocks): {:.2} s",
        stats.blocks,
        started.elapsed().as_secs_f64()
    );
    assert_eq!(chain2.tip().hash, chain.tip().hash);
    assert_eq!(store.len(), 100_000);
}
