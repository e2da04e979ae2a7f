//! Every JBC1 vector of `tests/vectors/jbc1-v1.json`, read at test time.

use jbc_core::header::Header;
use jbc_core::{Block, BlockError, BlockHash, Chain, Params, Status, genesis};
use serde_json::Value;

fn vectors() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/jbc1-v1.json");
    let text = std::fs::read_to_string(path).expect("vector file");
    serde_json::from_str(&text).expect("vector JSON")
}

fn params(v: &Value) -> Params {
    serde_json::from_value(v.clone()).expect("params")
}

fn blocks(v: &Value) -> Vec<Block> {
    v.as_array()
        .expect("array of blocks")
        .iter()
        .map(|b| Block::from_json(&b.to_string()).expect("vector block parses"))
        .collect()
}

/// Chain work: a decimal string in JSON (PROTOCOL.md §1); a plain number is accepted too.
fn work_of(v: &Value) -> u128 {
    match v {
        Value::String(s) => s.parse().expect("decimal work"),
        other => u128::from(other.as_u64().expect("work")),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Far enough after every vector timestamp that no block is "in the future".
const NOW_MS: u64 = 1_800_000_000_000;

/// A chain holding `blocks[1..]` (blocks[0] must be its genesis).
fn chain_of(params: &Params, blocks: &[Block]) -> Chain {
    let mut chain = Chain::new(params.clone());
    assert_eq!(
        chain.genesis(),
        &blocks[0],
        "vector genesis equals derived genesis"
    );
    for block in &blocks[1..] {
        chain
            .accept(block.clone(), NOW_MS)
            .expect("valid vector block");
    }
    chain
}

#[test]
fn default_genesis_and_header_bytes() {
    let v = vectors();
    let p = params(&v["default_params"]);
    assert_eq!(p, Params::default());
    let g = genesis(&p);
    let expected = Block::from_json(&v["default_genesis"].to_string()).unwrap();
    assert_eq!(g, expected);
    assert_eq!(
        hex(&g.header().encode()),
        v["default_genesis_header_hex"].as_str().unwrap()
    );
    assert!(g.hash_is_correct());
}

#[test]
fn chain_of_21_blocks_with_difficulties_and_work() {
    let v = vectors();
    let p = params(&v["params"]);
    let chain_blocks = blocks(&v["chain"]);
    assert_eq!(chain_blocks.len(), 21);
    let chain = chain_of(&p, &chain_blocks);
    assert_eq!(chain.height(), 20);
    assert_eq!(chain.tip(), chain_blocks.last().unwrap());
    let difficulties: Vec<u64> = chain
        .best_chain()
        .map(|b| u64::from(b.difficulty))
        .collect();
    let expected: Vec<u64> = v["chain_difficulties"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_u64().unwrap())
        .collect();
    assert_eq!(difficulties, expected);
    assert_eq!(chain.best_work(), work_of(&v["chain_work"]));
    // Each block's difficulty is also what the chain expected before it arrived.
    let mut replay = Chain::new(p);
    for block in &chain_blocks[1..] {
        assert_eq!(replay.next_rules().difficulty, block.difficulty);
        replay.accept(block.clone(), NOW_MS).unwrap();
    }
}

#[test]
fn block_5_header_bytes() {
    let v = vectors();
    let chain_blocks = blocks(&v["chain"]);
    let header = chain_blocks[5].header();
    let bytes = header.encode();
    assert_eq!(hex(&bytes), v["block_5_header_hex"].as_str().unwrap());
    assert_eq!(Header::decode(&bytes), Ok(header));
    assert_eq!(header.hash(), chain_blocks[5].hash);
}

#[test]
fn each_invalid_block_is_rejected_with_its_code_and_changes_nothing() {
    let v = vectors();
    let p = params(&v["params"]);
    let chain_blocks = blocks(&v["chain"]);
    let invalid = v["invalid_after_block_4"].as_object().unwrap();
    let mut seen = 0;
    for (code, block) in invalid {
        if code == "note" {
            continue;
        }
        seen += 1;
        let block = Block::from_json(&block.to_string()).expect("invalid vectors still parse");
        let mut chain = chain_of(&p, &chain_blocks[..=4]);
        let before_tip = chain.tip();
        let before_len = chain.len();
        let err = chain.accept(block.clone(), NOW_MS).unwrap_err();
        assert_eq!(err.code(), code, "vector {code}");
        assert_eq!(BlockError::from_code(code), Some(err));
        assert_eq!(chain.tip(), before_tip);
        assert_eq!(chain.len(), before_len);
        assert!(!chain.contains(&block.hash));
        assert!(!chain.is_pooled(&block.hash));
        // The valid block 5 is still accepted afterwards.
        let ok = chain.accept(chain_blocks[5].clone(), NOW_MS).unwrap();
        assert_eq!(ok.status, Status::NewTip);
    }
    assert_eq!(seen, 6, "six invalid vectors");
}

#[test]
fn future_timestamp_is_rejected_then_accepted_later() {
    let v = vectors();
    let p = params(&v["params"]);
    let chain_blocks = blocks(&v["chain"]);
    let now_ms = v["future"]["now_ms"].as_u64().unwrap();
    let mut chain = chain_of(&p, &chain_blocks[..=4]);
    let before = chain.tip().hash;
    let err = chain.accept(chain_blocks[5].clone(), now_ms).unwrap_err();
    assert_eq!(err, BlockError::TimestampInFuture);
    assert!(!err.is_permanent());
    assert_eq!(chain.tip().hash, before);
    assert_eq!(chain.len(), 5);
    // Not permanent: the same block is fine when the clock has caught up.
    let later = chain.accept(chain_blocks[5].clone(), NOW_MS).unwrap();
    assert_eq!(later.status, Status::NewTip);
}

fn fork() -> (Params, Vec<Block>, Vec<Block>, Vec<Block>, Value) {
    let v = vectors();
    let f = &v["fork"];
    (
        params(&v["params"]),
        blocks(&f["branch_a"]),
        blocks(&f["branch_b"]),
        blocks(&f["branch_b_13"]),
        f.clone(),
    )
}

fn feed(chain: &mut Chain, blocks: &[Block]) -> Vec<Status> {
    blocks[1..]
        .iter()
        .map(|b| {
            chain
                .accept(b.clone(), NOW_MS)
                .expect("valid fork block")
                .status
        })
        .collect()
}

#[test]
fn fork_most_work_wins_whichever_arrives_first() {
    let (p, a, b, _, f) = fork();
    let work = |key: &str| work_of(&f[key]);
    // A first, then the longer but lighter B: A stays best, and B, which
    // never reaches A's work, is ignored block by block (PROTOCOL.md §6.1): none
    // of it is stored.
    let mut chain = Chain::new(p.clone());
    feed(&mut chain, &a);
    assert_eq!(chain.best_work(), work("work_a"));
    let stored_before = chain.len();
    let statuses = feed(&mut chain, &b);
    assert!(
        statuses.iter().all(|s| *s == Status::Ignored),
        "{statuses:?}"
    );
    assert_eq!(chain.tip(), a.last().unwrap());
    assert_eq!(chain.len(), stored_before);
    assert!(b[1..].iter().all(|x| !chain.contains(&x.hash)));
    // Stored by itself, B has the work the vectors give.
    let mut alone = Chain::new(p.clone());
    feed(&mut alone, &b);
    assert_eq!(alone.best_work(), work("work_b"));

    // B first, then A: A takes over by a reorganisation, all or nothing.
    let mut chain = Chain::new(p);
    feed(&mut chain, &b);
    assert_eq!(chain.tip(), b.last().unwrap());
    let mut reorg = None;
    for block in &a[1..] {
        let accepted = chain.accept(block.clone(), NOW_MS).unwrap();
        if accepted.status == Status::Reorg {
            assert!(reorg.is_none(), "one reorganisation");
            reorg = Some(accepted);
        }
    }
    let reorg = reorg.expect("A reorganises B away");
    assert_eq!(chain.tip(), a.last().unwrap());
    assert_eq!(chain.best_work(), work("work_a"));
    assert_eq!(reorg.disconnected.first(), Some(&b.last().unwrap().hash));
    assert_eq!(reorg.disconnected.len(), b.len() - 1);
    assert!(chain.best_chain().zip(a.iter()).all(|(x, y)| x == y));
    assert_eq!(chain.best_chain().len(), a.len());
}

#[test]
fn equal_work_does_not_replace_the_first_seen() {
    let (p, a, _, b13, f) = fork();
    assert_eq!(f["work_a"], f["work_b_13"]);
    for (first, second) in [(&a, &b13), (&b13, &a)] {
        let mut chain = Chain::new(p.clone());
        feed(&mut chain, first);
        let statuses = feed(&mut chain, second);
        // Lighter until its last block, which ties: then the branch is
        // stored whole as a side branch, and the first seen stays best.
        let (last, lighter) = statuses.split_last().unwrap();
        assert!(
            lighter.iter().all(|s| *s == Status::Ignored),
            "{statuses:?}"
        );
        assert_eq!(*last, Status::Side);
        assert!(second.iter().all(|x| chain.contains(&x.hash)));
        assert_eq!(chain.tip(), first.last().unwrap());
        assert_eq!(
            chain.best_work(),
            chain.chain_work(&second.last().unwrap().hash).unwrap()
        );
    }
}

#[test]
fn orphans_connect_when_the_parent_arrives() {
    let v = vectors();
    let p = params(&v["params"]);
    let chain_blocks = blocks(&v["chain"]);
    let mut chain = Chain::new(p);
    // Blocks 2..=20 first (all orphans), then block 1 connects them all.
    for block in chain_blocks[2..].iter().rev() {
        let accepted = chain.accept(block.clone(), NOW_MS).unwrap();
        assert_eq!(accepted.status, Status::Orphan);
        assert!(chain.is_pooled(&block.hash));
    }
    assert_eq!(chain.height(), 0);
    let accepted = chain.accept(chain_blocks[1].clone(), NOW_MS).unwrap();
    assert_eq!(accepted.status, Status::NewTip);
    assert_eq!(accepted.stored.len(), 20);
    assert_eq!(accepted.connected.len(), 20);
    assert_eq!(chain.tip(), chain_blocks.last().unwrap());
    assert_eq!(chain.pooled_count(), 0);
    // Offering one again is a duplicate and changes nothing.
    let again = chain.accept(chain_blocks[7].clone(), NOW_MS).unwrap();
    assert_eq!(again.status, Status::Duplicate);
    assert_eq!(chain.len(), 21);
}

#[test]
fn trusted_reload_reproduces_tree_and_tip() {
    let (p, a, b, b13, _) = fork();
    let mut chain = Chain::new(p.clone());
    feed(&mut chain, &b13);
    feed(&mut chain, &a);
    feed(&mut chain, &b);
    let mut reloaded = Chain::new(p.clone());
    for block in chain.all_blocks().skip(1) {
        reloaded.insert_trusted(block.clone()).unwrap();
    }
    assert_eq!(reloaded.tip(), chain.tip());
    assert_eq!(reloaded.len(), chain.len());
    assert_eq!(reloaded.best_work(), chain.best_work());
    // A store from another network is refused: the first block's parent is unknown.
    let other = Params {
        network: "other".into(),
        ..p
    };
    let mut foreign = Chain::new(other);
    let err = foreign.insert_trusted(a[1].clone()).unwrap_err();
    assert_eq!(err, jbc_core::LoadError::UnknownParent(a[1].hash));
}

#[test]
fn json_rejects_unknown_missing_and_bad_hex() {
    let v = vectors();
    let good = v["chain"][3].clone();
    assert!(Block::from_json(&good.to_string()).is_ok());
    let mut unknown = good.clone();
    unknown["extra"] = Value::from(1);
    assert!(Block::from_json(&unknown.to_string()).is_err());
    let mut missing = good.clone();
    missing.as_object_mut().unwrap().remove("nonce");
    assert!(Block::from_json(&missing.to_string()).is_err());
    let mut upper = good.clone();
    upper["hash"] = Value::from(good["hash"].as_str().unwrap().to_uppercase());
    assert!(Block::from_json(&upper.to_string()).is_err());
    // The seven values as an array are not a block (PROTOCOL.md §3: an object).
    let fields = [
        "index",
        "timestamp",
        "data",
        "prev_hash",
        "difficulty",
        "nonce",
        "hash",
    ];
    let array = Value::Array(fields.iter().map(|f| good[*f].clone()).collect());
    assert!(Block::from_json(&array.to_string()).is_err());
    let mut negative = good;
    negative["nonce"] = Value::from(-1);
    assert!(Block::from_json(&negative.to_string()).is_err());
    assert!("zz".parse::<BlockHash>().is_err());
}
