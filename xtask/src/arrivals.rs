//! Arrival delays of blocks, read from the nodes' own log lines: every
//! node on one machine logs with one clock, so the time a block joined a
//! node's best chain minus the time it first joined any (its miner's) is
//! how long it took to arrive, without any probe of our own.

use std::collections::BTreeMap;
use std::path::Path;

/// The arrival delays of blocks first seen between `from_us` and `to_us`,
/// at reachable and at unreachable nodes (`reachable_node[i]` for
/// `host{i}.log`): each node's first log line for
/// the block joining its best chain (before `to_us`), minus the first such
/// line anywhere (its miner's). A block that lost a race never joins the
/// others' chains and counts no arrival.
pub fn arrival_delays(
    reachable_node: &[bool],
    data_root: &Path,
    from_us: u64,
    to_us: u64,
) -> String {
    let mut seen: BTreeMap<String, Vec<(usize, u64)>> = BTreeMap::new();
    for i in 0..reachable_node.len() {
        let text =
            std::fs::read_to_string(data_root.join(format!("host{i}.log"))).unwrap_or_default();
        for line in text.lines() {
            if let Some((at, hash)) = block_line(line) {
                seen.entry(hash).or_default().push((i, at));
            }
        }
    }
    let mut reachable = Vec::new();
    let mut unreachable = Vec::new();
    let mut blocks = 0;
    for arrivals in seen.values() {
        let first = arrivals.iter().map(|(_, at)| *at).min().unwrap_or(0);
        if first < from_us || first > to_us {
            continue;
        }
        blocks += 1;
        // Each node's first line for the block (a reorganisation logs the
        // blocks it connects again), before any partition began.
        let mut firsts: BTreeMap<usize, u64> = BTreeMap::new();
        for (i, at) in arrivals {
            let slot = firsts.entry(*i).or_insert(*at);
            *slot = (*slot).min(*at);
        }
        for (i, at) in &firsts {
            let delay_ms = (at - first) as f64 / 1000.0;
            if *at == first || *at > to_us {
                continue; // the miner itself, or held up by the partition
            }
            if reachable_node[*i] {
                reachable.push(delay_ms);
            } else {
                unreachable.push(delay_ms);
            }
        }
    }
    let every_s = (to_us - from_us) as f64 / 1e6 / f64::from(blocks.max(1));
    format!(
        "{blocks} blocks before any partition (one every {every_s:.2} s); arrival delay of \
         blocks (ms): reachable nodes {}, unreachable nodes {}",
        quantiles(&mut reachable),
        quantiles(&mut unreachable)
    )
}

fn quantiles(values: &mut [f64]) -> String {
    if values.is_empty() {
        return "no samples".into();
    }
    values.sort_by(f64::total_cmp);
    let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
    format!(
        "median {:.1}, p90 {:.1} ({} arrivals)",
        at(0.5),
        at(0.9),
        values.len()
    )
}

/// A node's "block H HASH from SOURCE" log line: (time in µs, short hash).
fn block_line(line: &str) -> Option<(u64, String)> {
    let (stamp, rest) = line.split_once(' ')?;
    let message = rest.split_once(": block ")?.1;
    let hash = message.split_whitespace().nth(1)?.to_string();
    Some((parse_rfc3339_us(stamp)?, hash))
}

/// `2026-12-06T18:02:38.502713Z` as microseconds since the epoch.
fn parse_rfc3339_us(stamp: &str) -> Option<u64> {
    let (date, time) = stamp.strip_suffix('Z')?.split_once('T')?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let mut t = hms.split(':').map(|p| p.parse::<i64>().ok());
    let (hh, mm, ss) = (t.next()??, t.next()??, t.next()??);
    let micros: i64 = format!("{:0<6}", &frac[..frac.len().min(6)]).parse().ok()?;
    // Days since the epoch (civil calendar).
    let (y, m) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hh * 3600 + mm * 60 + ss;
    u64::try_from(secs * 1_000_000 + micros).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_times_and_block_lines_are_read() {
        assert_eq!(parse_rfc3339_us("1970-01-01T00:00:01.5Z"), Some(1_500_000));
        assert_eq!(
            parse_rfc3339_us("2000-03-01T00:00:00Z"),
            Some(951_868_800_000_000)
        );
        let line = "2026-12-06T18:02:38.502713Z  INFO jbc_node::announce: block 12 ab12cd34 from followed (\"x\") 1.0s after its parent, difficulty 16";
        let (at, hash) = block_line(line).expect("a block line");
        assert_eq!(hash, "ab12cd34");
        assert_eq!(at % 1_000_000, 502_713);
        assert!(block_line("2026-12-06T18:02:38Z  INFO jbc_node::announce: peer up").is_none());
    }
}
