//! [`ByHash`]: a map keyed by block hash. A hash is already uniformly
//! random, so its first bytes are the map's hash: no SipHash per lookup
//! (the simulator looks blocks up on every relay and every store).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use jbc_core::BlockHash;

/// A map from block hash to `V`.
pub(super) type ByHash<V> = HashMap<BlockHash, V, BuildHasherDefault<FirstBytes>>;

/// Hashes a block hash by its first eight bytes (the length prefix of
/// the array is ignored).
#[derive(Default)]
pub(super) struct FirstBytes(u64);

impl Hasher for FirstBytes {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8).take(1) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 ^= u64::from_le_bytes(word);
        }
    }

    fn write_usize(&mut self, _length: usize) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct_hashes_are_distinct_keys() {
        let mut map: ByHash<u32> = ByHash::default();
        for i in 0..1000u32 {
            map.insert(BlockHash::sha256(&i.to_le_bytes()), i);
        }
        assert_eq!(map.len(), 1000);
        for i in 0..1000u32 {
            assert_eq!(map.get(&BlockHash::sha256(&i.to_le_bytes())), Some(&i));
        }
        // Same first bytes, different hash: still two keys.
        let (a, mut b) = (BlockHash([7; 32]), BlockHash([7; 32]));
        b.0[31] = 8;
        map.insert(a, 1);
        map.insert(b, 2);
        assert_eq!((map[&a], map[&b]), (1, 2));
    }
}
