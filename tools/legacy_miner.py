#!/usr/bin/env python3
"""The original Python JBC (JackBlockChain) mining loop, reimplemented for
`cargo xtask bench`: the baseline the Rust kernels are compared against.

As in the original, a block's header is a *string* (decimal index, parent
hash, data, decimal timestamp and decimal nonce concatenated), each nonce is
hashed with hashlib.sha256 from scratch, and a block is valid when its hex
digest starts with NUM_ZEROS '0' characters.

    python3 tools/legacy_miner.py --secs 2            # hash rate, one line
    python3 tools/legacy_miner.py --zeros 3 --mine    # mine one block, print it as JSON

Output of the rate mode:
`legacy_python <hashes_per_wall_sec> <hashes_per_cpu_sec> <hashes> <seconds>`.
The rate mode runs for about --secs seconds (at most 60) and always ends.
"""

import argparse
import hashlib
import json
import sys
import time

STANDARD_ROUNDS = 100000
NUM_ZEROS = 5


class Block:
    """A JBC block: every field as in the original's chaindata files."""

    def __init__(self, index, prev_hash, data, timestamp, nonce=0):
        self.index = index
        self.prev_hash = prev_hash
        self.data = data
        self.timestamp = timestamp
        self.nonce = nonce
        self.hash = ""

    def header_string(self):
        return str(self.index) + self.prev_hash + self.data + str(self.timestamp) + str(self.nonce)

    def update_self_hash(self):
        sha = hashlib.sha256()
        sha.update(self.header_string().encode("utf-8"))
        self.hash = sha.hexdigest()
        return self.hash

    def to_dict(self):
        return {
            "index": str(self.index),
            "prev_hash": self.prev_hash,
            "data": self.data,
            "timestamp": str(self.timestamp),
            "nonce": str(self.nonce),
            "hash": self.hash,
        }


def mine_block(block, rounds=STANDARD_ROUNDS, start_nonce=0, num_zeros=NUM_ZEROS):
    """The original loop: try `rounds` nonces from `start_nonce`.

    Returns the block with a valid nonce and hash, or None."""
    for nonce in range(start_nonce, start_nonce + rounds):
        block.nonce = nonce
        block.update_self_hash()
        if str(block.hash[0:num_zeros]) == "0" * num_zeros:
            return block
    return None


def sample_block():
    return Block(
        index=1,
        prev_hash="0" * 64,
        data="I block #1",
        timestamp=1700000000000,
    )


def rate(secs, num_zeros):
    """Hashes per second of mine_block, in rounds of 10 000 nonces, for ~secs."""
    block = sample_block()
    rounds = 10000
    hashed = 0
    nonce = 0
    began = time.perf_counter()
    cpu_began = time.process_time()
    while time.perf_counter() - began < secs:
        # At 64 zeros nothing is ever found: every round hashes all its nonces.
        mine_block(block, rounds=rounds, start_nonce=nonce, num_zeros=num_zeros)
        nonce += rounds
        hashed += rounds
    elapsed = time.perf_counter() - began
    cpu = time.process_time() - cpu_began
    return hashed, elapsed, cpu if cpu > 0 else elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--secs", type=float, default=2.0, help="seconds to measure (max 60)")
    parser.add_argument("--zeros", type=int, default=None, help="leading hex zeros required")
    parser.add_argument("--mine", action="store_true", help="mine one block and print it as JSON")
    args = parser.parse_args()

    if args.mine:
        zeros = NUM_ZEROS if args.zeros is None else args.zeros
        block = sample_block()
        start = 0
        # Bounded: 16^zeros nonces on average; give up after 10 000 rounds.
        for _ in range(10000):
            found = mine_block(block, STANDARD_ROUNDS, start, zeros)
            if found is not None:
                print(json.dumps(found.to_dict()))
                return 0
            start += STANDARD_ROUNDS
        print("no block found", file=sys.stderr)
        return 1

    secs = min(max(args.secs, 0.05), 60.0)
    zeros = 64 if args.zeros is None else args.zeros
    hashed, elapsed, cpu = rate(secs, zeros)
    print(f"legacy_python {hashed / elapsed:.0f} {hashed / cpu:.0f} {hashed} {elapsed:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
