//! Percentiles of latency samples.

/// The given percentiles (0–100) of `samples` (nearest rank); zeros if empty.
///
/// # Examples
///
/// ```
/// let p = shmlane::bench::percentiles((1..=100).collect(), [50.0, 99.0]);
/// assert_eq!(p, [50, 99]);
/// ```
pub fn percentiles<const K: usize>(mut samples: Vec<u64>, ps: [f64; K]) -> [u64; K] {
    samples.sort_unstable();
    ps.map(|p| {
        if samples.is_empty() {
            return 0;
        }
        let rank = ((p / 100.0) * samples.len() as f64).ceil() as usize;
        samples[rank.clamp(1, samples.len()) - 1]
    })
}
