//! [`Network`]: the measured internet the simulated nodes live in — regions,
//! the latency between them, bandwidth per node and where nodes are — and
//! [`Topology`], who connects to whom.
//!
//! The default is `data/network-2019.json`, compiled into the crate (see
//! `docs/sim.md` for what it holds and where its figures come from).

use serde::Deserialize;

use crate::rng::Rng;

/// The network file shipped with the crate.
pub const NETWORK_2019_JSON: &str = include_str!("../data/network-2019.json");

/// Regions, latencies and bandwidths, as in `data/network-2019.json`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Network {
    /// Where the figures come from.
    pub about: String,
    /// Region names.
    pub regions: Vec<String>,
    /// Mean one-way latency between regions, in milliseconds.
    pub latency_ms: Vec<Vec<f64>>,
    /// Download bandwidth of a node, by region, in bits per second.
    pub download_bps: Vec<f64>,
    /// Upload bandwidth of a node, by region, in bits per second.
    pub upload_bps: Vec<f64>,
    /// Share of the nodes in each region.
    pub region_share: Vec<f64>,
    /// Cumulative distribution of outbound links per node (index i = i + 1
    /// links). Kept for reference: the simulator gives every node the same
    /// outbound degree (`--peers`).
    pub outbound_degree_cdf: Vec<f64>,
}

impl Network {
    /// The 2019 network shipped with the crate.
    pub fn default_2019() -> Network {
        // The file is part of the crate and checked by a test.
        Network::from_json(NETWORK_2019_JSON).expect("data/network-2019.json is valid")
    }

    /// Parses and checks a network file.
    pub fn from_json(json: &str) -> Result<Network, String> {
        let network: Network = serde_json::from_str(json).map_err(|e| e.to_string())?;
        let n = network.regions.len();
        let square =
            network.latency_ms.len() == n && network.latency_ms.iter().all(|r| r.len() == n);
        if n == 0
            || !square
            || network.download_bps.len() != n
            || network.upload_bps.len() != n
            || network.region_share.len() != n
        {
            return Err(format!("every table must have one entry per region ({n})"));
        }
        if network
            .download_bps
            .iter()
            .chain(&network.upload_bps)
            .any(|b| *b <= 0.0)
        {
            return Err("bandwidths must be positive".into());
        }
        Ok(network)
    }

    /// One node's outbound link count drawn from `outbound_degree_cdf`
    /// (entry i: the share of nodes with at most i + 1 links).
    pub fn draw_outbound_degree(&self, rng: &mut Rng) -> usize {
        let x = rng.unit();
        self.outbound_degree_cdf
            .iter()
            .position(|c| x < *c)
            .unwrap_or(self.outbound_degree_cdf.len().saturating_sub(1))
            + 1
    }

    /// A region for each of `nodes` nodes, drawn by `region_share`.
    pub fn place(&self, nodes: usize, rng: &mut Rng) -> Vec<u8> {
        let total: f64 = self.region_share.iter().sum();
        (0..nodes)
            .map(|_| {
                let mut x = rng.unit() * total;
                for (region, share) in self.region_share.iter().enumerate() {
                    if x < *share {
                        return region as u8;
                    }
                    x -= share;
                }
                (self.regions.len() - 1) as u8
            })
            .collect()
    }
}

/// Who is linked to whom: each node opens outbound links to other nodes;
/// every link carries messages both ways, so both ends add each other as a
/// peer (as a jbc-node with `--peer` announces itself to that peer).
#[derive(Debug, Clone, PartialEq)]
pub struct Topology {
    /// The links each node opened (its `--peer`s), in order.
    pub outbound: Vec<Vec<u32>>,
    /// The neighbours of each node, in the order they are added to its peer
    /// book (so index i is the node's `PeerId(i)`): node by node, each
    /// outbound link is added at both ends.
    pub neighbours: Vec<Vec<u32>>,
}

impl Topology {
    /// `k` outbound links per node to distinct random other nodes (fewer if
    /// there are not enough nodes); a node does not open a link to a node
    /// that already opened one to it.
    pub fn random(nodes: usize, k: usize, rng: &mut Rng) -> Topology {
        Topology::random_degrees(&vec![k; nodes], rng)
    }

    /// `degrees[i]` outbound links for node i to distinct random other
    /// nodes (fewer if there are not that many), as [`Topology::random`].
    pub fn random_degrees(degrees: &[usize], rng: &mut Rng) -> Topology {
        Topology::random_dialable(degrees, &vec![true; degrees.len()], rng)
    }

    /// As [`Topology::random_degrees`], but a node opens links only to the
    /// nodes it can dial (`dialable[j]`): a node behind NAT can be linked
    /// to only by itself. With every node dialable the draws are those of
    /// [`Topology::random_degrees`].
    pub fn random_dialable(degrees: &[usize], dialable: &[bool], rng: &mut Rng) -> Topology {
        let nodes = degrees.len();
        let targets: Vec<u32> = (0..nodes as u32)
            .filter(|&j| dialable.get(j as usize).copied().unwrap_or(true))
            .collect();
        let mut outbound: Vec<Vec<u32>> = vec![Vec::new(); nodes];
        let mut neighbours: Vec<Vec<u32>> = vec![Vec::new(); nodes];
        for node in 0..nodes {
            let own = usize::from(targets.binary_search(&(node as u32)).is_ok());
            let k = degrees[node].min(targets.len().saturating_sub(own));
            let mut chosen = 0;
            // Bounded: each try succeeds with probability at least
            // 1/targets while fewer than k of the other targets are taken.
            for _ in 0..targets.len() * 64 {
                if chosen == k {
                    break;
                }
                let other = targets[rng.below(targets.len() as u64) as usize] as usize;
                if other == node || neighbours[node].contains(&(other as u32)) {
                    continue;
                }
                outbound[node].push(other as u32);
                neighbours[node].push(other as u32);
                neighbours[other].push(node as u32);
                chosen += 1;
            }
        }
        Topology {
            outbound,
            neighbours,
        }
    }

    /// The topology of these outbound links (`outbound[i]`: the nodes node
    /// i opens a link to), with the neighbours in the order
    /// [`Topology::random`] gives them. A link given twice (also once in each
    /// direction) is one link, as between two jbc-nodes that name each
    /// other with `--peer`. An error for a node index out of range or a link
    /// of a node to itself.
    pub fn from_outbound(outbound: Vec<Vec<u32>>) -> Result<Topology, String> {
        let nodes = outbound.len();
        let mut neighbours: Vec<Vec<u32>> = vec![Vec::new(); nodes];
        for (node, links) in outbound.iter().enumerate() {
            for &other in links {
                if other as usize >= nodes {
                    return Err(format!("node {node} links to node {other} of {nodes}"));
                }
                if other as usize == node {
                    return Err(format!("node {node} links to itself"));
                }
                if neighbours[node].contains(&other) {
                    continue;
                }
                neighbours[node].push(other);
                neighbours[other as usize].push(node as u32);
            }
        }
        Ok(Topology {
            outbound,
            neighbours,
        })
    }

    /// Number of nodes.
    pub fn nodes(&self) -> usize {
        self.neighbours.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_network_parses_and_has_six_regions() {
        let network = Network::default_2019();
        assert_eq!(network.regions.len(), 6);
        assert_eq!(network.latency_ms[0][1], network.latency_ms[1][0]);
        let total: f64 = network.region_share.iter().sum();
        assert!((total - 1.0).abs() < 0.01, "{total}");
        assert!(Network::from_json(r#"{"about":"","regions":["a"],"latency_ms":[[1,2]],"download_bps":[1],"upload_bps":[1],"region_share":[1],"outbound_degree_cdf":[]}"#).is_err());
    }

    #[test]
    fn links_are_distinct_both_ways_and_k_per_node() {
        let mut rng = Rng::new(1);
        let topology = Topology::random(50, 8, &mut rng);
        for (node, peers) in topology.neighbours.iter().enumerate() {
            assert!(peers.len() >= 8);
            for peer in peers {
                assert_ne!(*peer as usize, node);
                assert!(topology.neighbours[*peer as usize].contains(&(node as u32)));
            }
        }
        // The same links given explicitly make the same topology.
        let again = Topology::from_outbound(topology.outbound.clone()).unwrap();
        assert_eq!(again, topology);
    }

    #[test]
    fn measured_degrees_follow_the_shipped_distribution() {
        let network = Network::default_2019();
        let cdf = &network.outbound_degree_cdf;
        // The distribution's mean: Σ (i + 1) · P(degree = i + 1).
        let mean: f64 = (0..cdf.len())
            .map(|i| (i + 1) as f64 * (cdf[i] - if i == 0 { 0.0 } else { cdf[i - 1] }))
            .sum();
        let mut rng = Rng::new(4);
        let degrees: Vec<usize> = (0..20_000)
            .map(|_| network.draw_outbound_degree(&mut rng))
            .collect();
        assert!(degrees.iter().all(|d| (1..=cdf.len()).contains(d)));
        let drawn = degrees.iter().sum::<usize>() as f64 / degrees.len() as f64;
        assert!(
            (drawn - mean).abs() < 0.1,
            "drawn {drawn}, distribution {mean}"
        );
        // The share with at most 4 links is the table's (10 %).
        let at_most_4 = degrees.iter().filter(|d| **d <= 4).count() as f64 / 20_000.0;
        assert!((at_most_4 - cdf[3]).abs() < 0.01, "{at_most_4}");
        // A topology with those degrees opens them (up to duplicates it skips).
        let topology = Topology::random_degrees(&degrees[..500], &mut rng);
        for (node, links) in topology.outbound.iter().enumerate() {
            assert_eq!(links.len(), degrees[node]);
        }
    }

    #[test]
    fn links_go_only_to_nodes_that_can_be_dialled() {
        let dialable: Vec<bool> = (0..60).map(|i| i % 3 == 0).collect();
        let topology = Topology::random_dialable(&[4; 60], &dialable, &mut Rng::new(2));
        for (node, links) in topology.outbound.iter().enumerate() {
            assert_eq!(links.len(), 4, "node {node}");
            assert!(links.iter().all(|&j| dialable[j as usize]), "node {node}");
        }
        // With every node dialable, the draws are random_degrees' own.
        let all = Topology::random_dialable(&[4; 60], &[true; 60], &mut Rng::new(2));
        assert_eq!(all, Topology::random_degrees(&[4; 60], &mut Rng::new(2)));
    }

    #[test]
    fn explicit_links_are_added_at_both_ends_once() {
        let topology = Topology::from_outbound(vec![vec![1, 2], vec![0], vec![]]).unwrap();
        assert_eq!(topology.neighbours, vec![vec![1, 2], vec![0], vec![0]]);
        assert!(Topology::from_outbound(vec![vec![1]]).is_err());
        assert!(Topology::from_outbound(vec![vec![0]]).is_err());
    }
}
