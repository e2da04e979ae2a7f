//! The JBC native node (filled in by the node issue).
