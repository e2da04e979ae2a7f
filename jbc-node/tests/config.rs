//! The command line as the docs describe it: the flag tables of README.md
//! and docs/node.md name every flag of `jbc-node` with its real default, and
//! `-p 0` neither shares nor guesses a data dir and names mined blocks after
//! the port the node really got.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use clap::{CommandFactory, Parser};
use common::*;
use jbc_node::Config;

/// A flag table of a doc: long flag name → the default column, for every
/// row whose first cell starts with a flag.
fn flag_table(doc: &str) -> BTreeMap<String, String> {
    let path = format!("{}/../{doc}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut table = BTreeMap::new();
    for line in text.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // "| `-p`, `--port PORT` | `5000` | meaning |" splits into
        // ["", flags, default, meaning, ""].
        if cells.len() < 5 || !cells[1].starts_with("`-") {
            continue;
        }
        let long = cells[1]
            .split('`')
            .filter_map(|part| part.strip_prefix("--"))
            .map(|part| part.split_whitespace().next().unwrap_or_default())
            .next()
            .unwrap_or_else(|| panic!("{doc}: no long flag in {line:?}"));
        let previous = table.insert(long.to_string(), cells[2].to_string());
        assert!(previous.is_none(), "{doc}: --{long} twice");
    }
    table
}

/// The long flags of the node's command line and their clap defaults.
fn real_flags() -> BTreeMap<String, Option<String>> {
    Config::command()
        .get_arguments()
        .filter_map(|arg| {
            let long = arg.get_long()?;
            let default = arg
                .get_default_values()
                .first()
                .map(|v| v.to_string_lossy().into_owned());
            Some((long.to_string(), default))
        })
        .filter(|(long, _)| long != "help" && long != "version")
        .collect()
}

fn parse(args: &[&str]) -> Config {
    let mut argv = vec!["jbc-node"];
    argv.extend_from_slice(args);
    Config::try_parse_from(argv).expect("valid flags")
}

/// Checks one documented default against the command line. A default in
/// backticks is a value; one naming `<port>` is checked through what it
/// names; any other (`off`, `none`, `all cores`) means clap has none.
fn check_default(doc: &str, long: &str, documented: &str, real: &Option<String>) {
    let value = documented
        .strip_prefix('`')
        .and_then(|d| d.strip_suffix('`'))
        .filter(|d| !d.contains('`'));
    match (long, value) {
        ("data-dir", Some(pattern)) => {
            let dir = parse(&["-p", "4242"]).data_dir().expect("a data dir");
            assert_eq!(
                dir,
                std::path::Path::new(&pattern.replace("<port>", "4242")),
                "{doc}: --data-dir"
            );
        }
        ("miner", Some(pattern)) => assert_eq!(
            parse(&[]).block_data(4242),
            format!("Mined by {}", pattern.replace("<port>", "4242")),
            "{doc}: --miner"
        ),
        (_, Some(value)) => assert_eq!(
            real.as_deref(),
            Some(value),
            "{doc}: the default of --{long}"
        ),
        (_, None) if long == "www" => {
            // Not a value: where the page is looked for, in order.
            let order = ["`./www`", "the repo's `www/`"];
            let found: Vec<_> = order.iter().map(|o| documented.find(o)).collect();
            assert!(
                matches!(found[..], [Some(a), Some(b)] if a < b),
                "{doc}: --www looks in {order:?}, in this order: {documented:?}"
            );
        }
        (_, None) => assert_eq!(
            real, &None,
            "{doc}: --{long} is documented as {documented:?} but has a default"
        ),
    }
}

#[test]
fn the_flag_tables_name_every_flag_with_its_real_default() {
    let real = real_flags();
    assert!(real.contains_key("port") && real.contains_key("public-url"));
    for doc in ["README.md", "docs/node.md"] {
        let table = flag_table(doc);
        let documented: Vec<_> = table.keys().collect();
        let flags: Vec<_> = real.keys().collect();
        assert_eq!(
            documented, flags,
            "{doc}: the flag table against jbc-node --help"
        );
        for (long, default) in &table {
            check_default(doc, long, default, &real[long]);
        }
    }
}

#[test]
fn port_0_without_a_data_dir_is_refused_not_shared() {
    let config = parse(&["-p", "0"]);
    let error = config.data_dir().expect_err("-p 0 names no data dir");
    assert!(error.to_string().contains("--data-dir"), "{error}");
    // With a data dir, -p 0 is fine; another port keeps its default.
    let dir = temp_dir("port0");
    let given = dir.to_string_lossy().into_owned();
    assert_eq!(
        parse(&["-p", "0", "--data-dir", &given])
            .data_dir()
            .unwrap(),
        *dir
    );
    assert_eq!(
        parse(&["-p", "5001"]).data_dir().unwrap(),
        std::path::Path::new("chaindata-5001")
    );
    // --help says so.
    let help = Config::command().render_long_help().to_string();
    assert!(help.contains("required with -p 0"), "{help}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn port_0_refused_at_start_creates_nothing() {
    // Run from a fresh directory's point of view: nothing named after port 0
    // appears where the default would be.
    let before = std::path::Path::new("chaindata-0").exists();
    let error = jbc_node::start(parse(&["-p", "0"]))
        .await
        .expect_err("refused");
    assert!(error.to_string().contains("--data-dir"), "{error}");
    assert_eq!(std::path::Path::new("chaindata-0").exists(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_on_port_0_names_its_blocks_after_the_port_it_got() {
    tokio::time::timeout(Duration::from_secs(60), async {
        let dir = temp_dir("port0-miner");
        let mut flags = FAST_FLAGS.to_vec();
        flags.extend(["--mine", "--threads", "1"]);
        let node = start(&dir, &flags).await;
        let port = node.addr.port();
        assert_ne!(port, 0);
        let mut events = vec![node.node.subscribe()];
        let mined = wait_until(&mut events, Duration::from_secs(50), || {
            node.node.chain().height() >= 1
        })
        .await;
        assert!(mined, "no block mined");
        let first = node.node.chain().hash_at(1).unwrap();
        let snapshot = node.node.snapshot().expect("snapshot");
        let data = snapshot.block(&first).expect("read").expect("stored").data;
        assert_eq!(data, format!("Mined by node on port {port}"));
        node.shutdown().await.expect("clean shutdown");
    })
    .await
    .expect("within 60 s");
}
