//! `GET /metrics`: OpenMetrics text under its own content type, accepted
//! by a strict check of the OpenMetrics rules the body uses; counters that
//! move by exactly the blocks sent; and no CORS on it while the other
//! routes keep theirs.

mod common;

use std::collections::BTreeMap;

use common::*;
use jbc_core::{Block, Chain};

/// The content type `/metrics` must be served with.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// One scrape: `name{label="v",…}` (labels sorted) → value.
type Scrape = BTreeMap<String, f64>;

/// The suffixes a sample of a family of type `kind` may add to the
/// family's name (OpenMetrics 1.0.0, "Metric types"); `None` for a type
/// OpenMetrics does not have.
fn suffixes(kind: &str) -> Option<&'static [&'static str]> {
    Some(match kind {
        "counter" => &["_total", "_created"],
        "gauge" | "stateset" | "unknown" => &[""],
        "histogram" => &["_bucket", "_count", "_sum", "_created"],
        "gaugehistogram" => &["_bucket", "_gcount", "_gsum"],
        "summary" => &["", "_count", "_sum", "_created"],
        "info" => &["_info"],
        _ => return None,
    })
}

/// A family as declared by its `# TYPE` and `# HELP` lines.
#[derive(Default)]
struct Family {
    kind: Option<String>,
    help: bool,
    /// Whether one of its samples was seen (no descriptor may follow).
    sampled: bool,
}

/// Checks `text` against the rules of the OpenMetrics text format 1.0.0
/// that a node's body uses, and returns its samples:
/// - every line ends in a newline, none is empty, and the last is the only
///   `# EOF`;
/// - each family has one `# TYPE` of an OpenMetrics type and one `# HELP`,
///   both under the family's name and before its samples; a family's lines
///   are not interleaved with another's; no family is named as another's
///   sample (`x` counter and `x_total` gauge);
/// - each sample's name is its family's name plus a suffix its type
///   allows (so a counter's samples end in `_total`), its labels are valid
///   names with escaped values, none twice, and no series comes twice;
/// - values are numbers (`+Inf`, `-Inf`, `NaN` spelled so); counters and
///   histogram counts are not negative;
/// - a histogram's buckets carry `le`, ascend, are cumulative, end at
///   `le="+Inf"`, and that bucket equals its `_count`.
///
/// (Timestamps and exemplars, which the node never writes, are refused.)
fn check(text: &str) -> Result<Scrape, String> {
    let body = text
        .strip_suffix("# EOF\n")
        .ok_or("the body does not end with \"# EOF\\n\"")?;
    if !body.is_empty() && !body.ends_with('\n') {
        return Err("# EOF is not on a line of its own".into());
    }
    let mut families: BTreeMap<String, Family> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    let mut samples = Scrape::new();
    // Histogram buckets by series without `le`: (le, count) in order; and
    // each histogram series' `_count`.
    let mut buckets: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    let mut counts: BTreeMap<String, f64> = BTreeMap::new();
    for line in body.split_terminator('\n') {
        let bad = |why: &str| format!("{why}: {line:?}");
        if line.is_empty() {
            return Err(bad("an empty line"));
        }
        if let Some(comment) = line.strip_prefix('#') {
            let mut parts = comment
                .strip_prefix(' ')
                .ok_or_else(|| bad("a bad comment"))?
                .splitn(3, ' ');
            let (word, name) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            if word == "EOF" {
                return Err(bad("# EOF before the end"));
            }
            if !valid_name(name) {
                return Err(bad("a bad family name"));
            }
            if order.last().map(String::as_str) != Some(name) {
                if families.contains_key(name) {
                    return Err(bad("a family split in two"));
                }
                order.push(name.to_string());
            }
            let family = families.entry(name.to_string()).or_default();
            if family.sampled {
                return Err(bad("a descriptor after the family's samples"));
            }
            match (word, parts.next()) {
                ("TYPE", Some(kind)) if family.kind.is_none() => {
                    suffixes(kind).ok_or_else(|| bad("not an OpenMetrics type"))?;
                    family.kind = Some(kind.to_string());
                }
                ("HELP", Some(_)) if !family.help => family.help = true,
                ("UNIT", Some(unit)) if name.ends_with(&format!("_{unit}")) => {}
                _ => return Err(bad("an unknown or repeated descriptor")),
            }
            continue;
        }
        let (series, value) = line.split_once(' ').ok_or_else(|| bad("no value"))?;
        let value = number(value).ok_or_else(|| bad("a bad value (or a timestamp or exemplar)"))?;
        let (name, labels) = match series.split_once('{') {
            Some((name, labels)) => (
                name,
                labels
                    .strip_suffix('}')
                    .ok_or_else(|| bad("no closing brace"))?,
            ),
            None => (series, ""),
        };
        let family_name = order
            .last()
            .ok_or_else(|| bad("a sample before any family"))?;
        let family = families.get_mut(family_name).expect("declared");
        let kind = family
            .kind
            .clone()
            .ok_or_else(|| bad("a family without # TYPE"))?;
        if !family.help {
            return Err(bad("a family without # HELP"));
        }
        family.sampled = true;
        let suffix = name
            .strip_prefix(family_name.as_str())
            .filter(|s| suffixes(&kind).unwrap_or(&[]).contains(s))
            .ok_or_else(|| bad(&format!("not a sample name of {kind} {family_name}")))?;
        let mut pairs = label_pairs(labels).map_err(|e| bad(&e))?;
        let le = pairs.iter().position(|(k, _)| k == "le");
        if (suffix == "_bucket") != le.is_some() {
            return Err(bad(
                "`le` on a sample that is not a bucket, or a bucket without it",
            ));
        }
        let is_count = matches!(suffix, "_total" | "_bucket" | "_count" | "_gcount");
        if is_count && (value.is_nan() || value < 0.0) {
            return Err(bad("a negative count"));
        }
        let mut without_le = pairs.clone();
        if let Some(i) = le {
            let bound = number(&without_le.remove(i).1).ok_or_else(|| bad("a bad `le`"))?;
            buckets
                .entry(format!("{family_name}{without_le:?}"))
                .or_default()
                .push((bound, value));
        }
        if kind == "histogram" && suffix == "_count" {
            counts.insert(format!("{family_name}{without_le:?}"), value);
        }
        pairs.sort();
        let labels: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
        let key = format!("{name}{{{}}}", labels.join(","));
        if samples.insert(key, value).is_some() {
            return Err(bad("a series twice"));
        }
    }
    for (name, family) in &families {
        if family.kind.is_none() || !family.help {
            return Err(format!("{name} lacks # TYPE or # HELP"));
        }
        for (other, f) in &families {
            let kind = f.kind.as_deref().unwrap_or("unknown");
            let taken = suffixes(kind)
                .unwrap_or(&[])
                .iter()
                .filter(|s| !s.is_empty());
            if taken.map(|s| format!("{other}{s}")).any(|n| n == *name) {
                return Err(format!("family {name} is a sample name of {other}"));
            }
        }
    }
    if let Some(series) = counts.keys().find(|k| !buckets.contains_key(*k)) {
        return Err(format!("histogram {series} has a count but no buckets"));
    }
    for (series, list) in &buckets {
        let ascending = list.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1);
        let last = list.last().filter(|(le, _)| *le == f64::INFINITY);
        match (ascending, last, counts.get(series)) {
            (true, Some((_, inf)), Some(count)) if inf == count => {}
            _ => {
                return Err(format!(
                    "histogram {series}: buckets {list:?}, count {:?}",
                    counts.get(series)
                ));
            }
        }
    }
    Ok(samples)
}

/// An OpenMetrics number: a decimal (digits first, after an optional
/// sign), or `+Inf`, `-Inf`, `NaN`.
fn number(text: &str) -> Option<f64> {
    match text {
        "+Inf" => return Some(f64::INFINITY),
        "-Inf" => return Some(f64::NEG_INFINITY),
        "NaN" => return Some(f64::NAN),
        _ => {}
    }
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    let decimal = digits.starts_with(|c: char| c.is_ascii_digit())
        && digits
            .chars()
            .all(|c| c.is_ascii_digit() || ".eE+-".contains(c));
    decimal.then(|| text.parse().ok()).flatten()
}

/// The `name="value"` pairs between a sample's braces (values as escaped
/// in the text: `\\`, `\"` and `\n` are the only escapes).
fn label_pairs(mut rest: &str) -> Result<Vec<(String, String)>, String> {
    let mut pairs: Vec<(String, String)> = Vec::new();
    while !rest.is_empty() {
        let (key, after) = rest.split_once("=\"").ok_or("not label=\"value\"")?;
        if !valid_name(key) || key.contains(':') || pairs.iter().any(|(k, _)| k == key) {
            return Err(format!("a bad or repeated label name {key:?}"));
        }
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next() {
                Some((i, '"')) => break i,
                Some((_, '\\')) => match chars.next() {
                    Some((_, '\\' | '"' | 'n')) => {}
                    _ => return Err("a bad escape in a label value".into()),
                },
                Some((_, '\n')) | None => return Err("an unclosed label value".into()),
                Some(_) => {}
            }
        };
        pairs.push((key.to_string(), after[..end].to_string()));
        rest = &after[end + 1..];
        if !rest.is_empty() {
            rest = rest.strip_prefix(',').ok_or("no comma between labels")?;
        }
    }
    Ok(pairs)
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// [`check`], panicking with the broken rule.
fn parse(text: &str) -> Scrape {
    check(text).unwrap_or_else(|e| panic!("not OpenMetrics text: {e}\n{text}"))
}

/// A body in the node's shape that [`check`] accepts, and variants of it
/// that each break one rule and are refused for that rule.
#[test]
fn the_openmetrics_check_refuses_each_broken_rule() {
    let good = "# HELP jbc_blocks Blocks.\n# TYPE jbc_blocks counter\n\
                jbc_blocks_total{outcome=\"ok\",source=\"a\\\"b\"} 3\n\
                # HELP jbc_depth Depth.\n# TYPE jbc_depth histogram\n\
                jbc_depth_sum 3.0\njbc_depth_count 1\n\
                jbc_depth_bucket{le=\"1.0\"} 0\njbc_depth_bucket{le=\"+Inf\"} 1\n# EOF\n";
    let scrape = check(good).expect("a valid body");
    assert_eq!(
        scrape["jbc_blocks_total{outcome=\"ok\",source=\"a\\\"b\"}"],
        3.0
    );
    assert_eq!(scrape["jbc_depth_bucket{le=\"+Inf\"}"], 1.0);
    let sample = "jbc_blocks_total{outcome=\"ok\",source=\"a\\\"b\"} 3\n";
    let cases: Vec<(String, &str)> = vec![
        (good.replace("# EOF\n", ""), "does not end with"),
        (good.replace("# HELP jbc_depth", "# EOF\n# HELP jbc_depth"), "# EOF before the end"),
        (good.replace("jbc_depth_sum", "\njbc_depth_sum"), "an empty line"),
        // The older Prometheus format's HELP of a counter, under the sample's name.
        (good.replace("# HELP jbc_blocks ", "# HELP jbc_blocks_total "), "without # HELP"),
        (good.replace("# TYPE jbc_blocks counter\n", ""), "without # TYPE"),
        (good.replace("counter", "untyped"), "not an OpenMetrics type"),
        (good.replace("jbc_blocks_total{", "jbc_blocks{"), "not a sample name"),
        (format!("jbc_x 1\n{good}"), "a sample before any family"),
        (good.replace("# EOF\n", "# HELP jbc_blocks Again.\n# EOF\n"), "split in two"),
        (good.replace(sample, &format!("{sample}{sample}")), "a series twice"),
        (good.replace("a\\\"b", "a\\b"), "a bad escape"),
        (good.replace("} 3\n", "} -3\n"), "a negative count"),
        (good.replace("} 3\n", "} three\n"), "a bad value"),
        (good.replace("} 3\n", "} 3 1700000000\n"), "a bad value"),
        (good.replace("jbc_depth_bucket{le=\"+Inf\"} 1\n", ""), "histogram"),
        (good.replace("jbc_depth_count 1", "jbc_depth_count 2"), "histogram"),
        (good.replace("{le=\"1.0\"} 0", "{le=\"1.0\"} 5"), "histogram"),
        (good.replace("{le=\"1.0\"} 0", " 0"), "`le`"),
        (
            good.replace(
                "# EOF\n",
                "# HELP jbc_blocks_total G.\n# TYPE jbc_blocks_total gauge\njbc_blocks_total 1\n# EOF\n",
            ),
            "is a sample name of",
        ),
    ];
    for (bad, rule) in cases {
        let refused =
            check(&bad).expect_err(&format!("accepted a body that breaks {rule:?}:\n{bad}"));
        assert!(refused.contains(rule), "{rule:?} expected, got {refused:?}");
    }
}

/// The value of a series, 0 when absent.
fn value(scrape: &Scrape, key: &str) -> f64 {
    scrape.get(key).copied().unwrap_or(0.0)
}

async fn scrape(url: &str) -> Scrape {
    let response = client()
        .get(format!("{url}/metrics"))
        .send()
        .await
        .expect("GET /metrics");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], OPENMETRICS);
    parse(&response.text().await.expect("body"))
}

fn blocks(outcome: &str) -> String {
    format!("jbc_blocks_total{{outcome=\"{outcome}\",source=\"submitted\"}}")
}

/// Mines `count` blocks on `chain`'s tip.
fn extend(chain: &mut Chain, count: usize, tag: &str) -> Vec<Block> {
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
}

#[tokio::test]
async fn counters_move_by_exactly_the_blocks_sent() {
    let dir = temp_dir("metrics");
    let node = start(&dir, &VECTOR_FLAGS).await;
    let url = node.url();
    let params = params_of(&VECTOR_FLAGS);
    let before = scrape(&url).await;
    assert_eq!(value(&before, "jbc_height{}"), 0.0);
    assert_eq!(value(&before, &blocks("accepted")), 0.0);

    let mut chain = Chain::new(params.clone());
    let main = extend(&mut chain, 3, "main");
    let mut side_chain = Chain::new(params);
    let side = extend(&mut side_chain, 4, "side");
    let mut bad = main[0].clone();
    bad.nonce ^= 1;

    let mined = format!("{url}/mined");
    for block in &main {
        let (status, body) = post(&mined, block.to_json()).await;
        assert_eq!((status, body["status"].as_str()), (200, Some("accepted")));
    }
    let (_, body) = post(&mined, main[1].to_json()).await;
    assert_eq!(body["status"], "duplicate");
    let (_, body) = post(&mined, side[1].to_json()).await;
    assert_eq!(body["status"], "orphan");
    let (_, body) = post(&mined, side[0].to_json()).await;
    assert_eq!(body["status"], "ignored");
    let (status, body) = post(&mined, bad.to_json()).await;
    assert_eq!((status, body["error"].as_str()), (422, Some("bad_hash")));
    let (_, body) = post(&mined, side[2].to_json()).await;
    assert_eq!(body["status"], "side");
    let (_, body) = post(&mined, side[3].to_json()).await;
    assert_eq!(body["status"], "reorg");

    let after = scrape(&url).await;
    let moved = |key: &str| value(&after, key) - value(&before, key);
    assert_eq!(moved(&blocks("accepted")), 3.0);
    assert_eq!(moved(&blocks("duplicate")), 1.0);
    assert_eq!(moved(&blocks("orphan")), 1.0);
    assert_eq!(moved(&blocks("ignored")), 1.0);
    assert_eq!(moved(&blocks("bad_hash")), 1.0);
    assert_eq!(moved(&blocks("side")), 1.0);
    assert_eq!(moved(&blocks("reorg")), 1.0);
    // The reorganisation disconnected the 3 blocks of the first branch.
    assert_eq!(value(&after, "jbc_reorg_depth_count{}"), 1.0);
    assert_eq!(value(&after, "jbc_reorg_depth_sum{}"), 3.0);
    assert_eq!(value(&after, "jbc_reorg_depth_bucket{le=\"2.0\"}"), 0.0);
    assert_eq!(value(&after, "jbc_reorg_depth_bucket{le=\"4.0\"}"), 1.0);
    assert_eq!(value(&after, "jbc_height{}"), 4.0);
    assert_eq!(value(&after, "jbc_blocks_stored{}"), 7.0);
    assert_eq!(value(&after, "jbc_pooled_blocks{}"), 0.0);
    assert!(value(&after, "jbc_chain_work{}") > value(&before, "jbc_chain_work{}"));
    let requests = |status: u16| {
        format!("jbc_http_requests_total{{method=\"POST\",route=\"/mined\",status=\"{status}\"}}")
    };
    assert_eq!(moved(&requests(200)), 8.0);
    assert_eq!(moved(&requests(422)), 1.0);
    assert_eq!(
        value(
            &after,
            "jbc_http_request_duration_seconds_count{method=\"POST\",route=\"/mined\"}"
        ),
        9.0
    );
    // The first scrape was counted too, by its route.
    assert!(
        value(
            &after,
            "jbc_http_requests_total{method=\"GET\",route=\"/metrics\",status=\"200\"}"
        ) >= 1.0
    );
    node.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn metrics_has_no_cors_and_the_api_keeps_it() {
    let dir = temp_dir("metrics-cors");
    let node = start(&dir, &VECTOR_FLAGS).await;
    let url = node.url();
    let get = |path: &str| {
        client()
            .get(format!("{url}{path}"))
            .header("origin", "http://example.invalid")
            .send()
    };
    let metrics = get("/metrics").await.expect("GET /metrics");
    assert_eq!(metrics.status(), 200);
    assert!(
        metrics
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    let tip = get("/tip").await.expect("GET /tip");
    assert_eq!(tip.status(), 200);
    assert_eq!(tip.headers()["access-control-allow-origin"], "*");
    let preflight = client()
        .request(reqwest::Method::OPTIONS, format!("{url}/metrics"))
        .header("origin", "http://example.invalid")
        .header("access-control-request-method", "GET")
        .send()
        .await
        .expect("OPTIONS /metrics");
    assert!(
        preflight
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    node.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn sync_counts_its_blocks_its_runs_and_their_durations() {
    let (a_dir, b_dir) = (temp_dir("metrics-sync-a"), temp_dir("metrics-sync-b"));
    let a = start(&a_dir, &VECTOR_FLAGS).await;
    let mut chain = Chain::new(params_of(&VECTOR_FLAGS));
    for block in extend(&mut chain, 5, "a") {
        let (status, _) = post(&format!("{}/mined", a.url()), block.to_json()).await;
        assert_eq!(status, 200);
    }
    let a_url = a.url();
    let mut flags = VECTOR_FLAGS.to_vec();
    flags.extend(["--peer", &a_url]);
    let b = start(&b_dir, &flags).await;
    let tip = chain.tip().hash;
    let mut events = [b.node.subscribe()];
    assert!(
        wait_until(&mut events, std::time::Duration::from_secs(20), || {
            b.node.chain().tip().hash == tip
        })
        .await,
        "b syncs from a"
    );
    // The sync that stored the blocks has ended once its count shows.
    let mut after = scrape(&b.url()).await;
    for _ in 0..100 {
        if value(&after, "jbc_syncs_total{outcome=\"synced\"}") >= 1.0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        after = scrape(&b.url()).await;
    }
    assert_eq!(
        value(
            &after,
            "jbc_blocks_total{outcome=\"stored\",source=\"sync\"}"
        ),
        5.0
    );
    assert!(value(&after, "jbc_syncs_total{outcome=\"synced\"}") >= 1.0);
    assert!(value(&after, "jbc_sync_duration_seconds_count{}") >= 1.0);
    assert_eq!(value(&after, "jbc_peers{state=\"up\"}"), 1.0);
    assert_eq!(value(&after, "jbc_height{}"), 5.0);
    b.shutdown().await.expect("shutdown");
    a.shutdown().await.expect("shutdown");
}
