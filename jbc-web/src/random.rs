//! Randomness from the platform (`crypto.getRandomValues` in a browser,
//! the OS elsewhere, through getrandom): where a worker starts its nonces,
//! and the id that tags a tab's blocks.

use alloc::string::String;

use crate::job::MAX_NONCE;

/// Why the platform gave no randomness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoRandomness(pub String);

/// A uniformly random nonce in `0..=MAX_NONCE`, so that workers and tabs
/// mining the same template search different parts of the nonce space.
pub fn random_start_nonce() -> Result<u64, NoRandomness> {
    let value = getrandom::u64().map_err(|e| NoRandomness(alloc::format!("{e}")))?;
    Ok(value & MAX_NONCE)
}

/// A random miner id: 8 lowercase hex characters (32 bits).
pub fn random_miner_id() -> Result<String, NoRandomness> {
    let value = getrandom::u32().map_err(|e| NoRandomness(alloc::format!("{e}")))?;
    Ok(alloc::format!("{value:08x}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_nonces_are_safe_integers_and_vary() {
        let nonces: alloc::vec::Vec<u64> = (0..8).map(|_| random_start_nonce().unwrap()).collect();
        assert!(nonces.iter().all(|n| *n <= MAX_NONCE));
        assert!(nonces.windows(2).any(|w| w[0] != w[1]));
    }

    #[test]
    fn miner_ids_are_eight_hex_characters() {
        let id = random_miner_id().unwrap();
        assert_eq!(id.len(), 8);
        assert!(
            id.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
    }
}
