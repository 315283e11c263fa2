//! The chunk word codec: `gen:30 | phase:2 | holders:32` in one `u64` (design §1, "The
//! chunk word"). Pure functions, no memory access: every word read from the mapping
//! goes through [`decode`], which refuses the illegal ones.

/// Bits `0..32`: bit `m` set means member entry `m` holds the chunk.
pub const HOLDERS_MASK: u64 = 0xffff_ffff;
/// First bit of the 2-bit phase.
pub const PHASE_SHIFT: u32 = 32;
/// First bit of the 30-bit generation.
pub const GEN_SHIFT: u32 = 34;
/// Generations are counted modulo `GEN_LIMIT` (2^30).
pub const GEN_LIMIT: u32 = 1 << 30;
/// Member entries per pool: one holder bit each.
pub const MEMBERS: u32 = 32;

/// Where a chunk is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// No holder; may be allocated (phase 0: all-zero memory is a free chunk).
    Free,
    /// Exactly one holder, the writer; its bytes are not published.
    Writing,
    /// One or more holders, each with a read-only view; the bytes are final.
    Frozen,
}

/// A legal chunk word, decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Chunk {
    /// Generation, `< GEN_LIMIT`.
    pub generation: u32,
    /// Phase.
    pub phase: Phase,
    /// Holder bitmask: empty for `Free`, one bit for `Writing`, non-empty for `Frozen`.
    pub holders: u32,
}

impl Chunk {
    /// A free chunk of generation `generation` (masked to 30 bits).
    pub const fn free(generation: u32) -> Self {
        Self {
            generation: generation & (GEN_LIMIT - 1),
            phase: Phase::Free,
            holders: 0,
        }
    }

    /// Whether member entry `m` (`< MEMBERS`) holds this chunk.
    pub const fn held_by(&self, m: u32) -> bool {
        self.holders & (1 << m) != 0
    }

    /// The word; `self` must be legal (it is, if it came from [`decode`] or the
    /// transitions of `hold`), which `debug_assert!`s check.
    pub fn encode(&self) -> u64 {
        debug_assert!(self.generation < GEN_LIMIT);
        debug_assert!(decode(self.raw()) == Some(*self), "illegal chunk {self:?}");
        self.raw()
    }

    const fn raw(&self) -> u64 {
        let phase = match self.phase {
            Phase::Free => 0u64,
            Phase::Writing => 1,
            Phase::Frozen => 2,
        };
        ((self.generation as u64) << GEN_SHIFT) | (phase << PHASE_SHIFT) | self.holders as u64
    }
}

/// Decodes a word read from shared memory; `None` for every illegal word (phase 3,
/// `Free` with holders, `Writing` without exactly one holder, `Frozen` without any).
/// Callers report `None` as corruption; nothing is ever derived from an illegal word.
pub const fn decode(word: u64) -> Option<Chunk> {
    let holders = (word & HOLDERS_MASK) as u32;
    let generation = (word >> GEN_SHIFT) as u32; // 30 bits: the shift leaves nothing above
    let phase = match (word >> PHASE_SHIFT) & 3 {
        0 if holders == 0 => Phase::Free,
        1 if holders.count_ones() == 1 => Phase::Writing,
        2 if holders != 0 => Phase::Frozen,
        _ => return None,
    };
    Some(Chunk {
        generation,
        phase,
        holders,
    })
}

#[cfg(all(test, not(shmlane_loom)))]
mod tests {
    use super::*;

    #[test]
    fn zero_is_a_free_chunk_of_generation_zero() {
        assert_eq!(decode(0), Some(Chunk::free(0)));
    }

    #[test]
    fn legal_words_round_trip() {
        for generation in [0, 1, GEN_LIMIT - 1] {
            for (phase, holders) in [
                (Phase::Free, 0),
                (Phase::Writing, 1),
                (Phase::Writing, 1 << 31),
                (Phase::Frozen, 1),
                (Phase::Frozen, u32::MAX),
            ] {
                let c = Chunk {
                    generation,
                    phase,
                    holders,
                };
                assert_eq!(decode(c.encode()), Some(c));
            }
        }
    }

    #[test]
    fn illegal_words_are_refused() {
        let phase = |p: u64| p << PHASE_SHIFT;
        for w in [
            phase(3),
            phase(3) | 1,
            phase(0) | 1,         // free with a holder
            phase(1),             // writing without a writer
            phase(1) | 0b11,      // writing with two
            phase(2),             // frozen without holders
            u64::MAX,             // phase 3
            (7 << GEN_SHIFT) | 5, // free with holders, any generation
        ] {
            assert_eq!(decode(w), None, "{w:#x}");
        }
    }

    #[test]
    fn free_masks_the_generation() {
        assert_eq!(Chunk::free(GEN_LIMIT).generation, 0);
        assert_eq!(Chunk::free(GEN_LIMIT + 3).generation, 3);
    }
}
