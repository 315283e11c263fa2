//! Helpers for block-interleaved measurements that need nothing but std and rustix:
//! also compiled into the library's own benches (`benches/common/mod.rs` includes this
//! file by path), which cannot depend on this crate.

/// Pins the calling thread to `cpu` (best effort: the kernel refuses a CPU that does
/// not exist, and the thread then keeps its mask). Not based on the inherited mask, which
/// a pinned parent narrows to its own CPU.
pub fn pin_to(cpu: usize) {
    let mut set = rustix::thread::CpuSet::new();
    set.set(cpu);
    let _ = rustix::thread::sched_setaffinity(None, &set);
}

/// The median of `values` (sorted in place; the mean of the middle two for an even
/// count); NaN for none.
///
/// # Examples
///
/// ```
/// assert_eq!(shmlane_cli::bench::median(&mut [3.0, 1.0, 2.0]), 2.0);
/// assert_eq!(shmlane_cli::bench::median(&mut [4.0, 1.0, 2.0, 3.0]), 2.5);
/// ```
pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => values[n / 2],
        _ => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// Per-block ratios of one measurement to a reference measured in the same blocks:
/// what "ratio in the same run" means on a machine whose speed drifts.
///
/// # Examples
///
/// ```
/// use shmlane_cli::bench::BlockRatios;
/// let r = BlockRatios::new(&[2.0, 6.0, 9.0], &[1.0, 2.0, 10.0]).unwrap();
/// assert_eq!((r.median, r.min, r.max, r.at_least_one, r.blocks), (2.0, 0.9, 3.0, 2, 3));
/// assert_eq!(r.to_string(), "2.00x (0.90-3.00x, 3 blocks)");
/// assert!(BlockRatios::new(&[1.0], &[1.0]).is_none()); // one block says nothing
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BlockRatios {
    /// Median of the per-block ratios.
    pub median: f64,
    /// Smallest per-block ratio.
    pub min: f64,
    /// Largest per-block ratio.
    pub max: f64,
    /// Blocks whose ratio is at least 1.0.
    pub at_least_one: usize,
    /// Blocks compared (those whose reference is positive).
    pub blocks: usize,
}

impl BlockRatios {
    /// `values[i] / reference[i]` over the blocks; `None` with mismatched block counts
    /// or fewer than two comparable blocks. Blocks with a reference of 0 are skipped.
    pub fn new(values: &[f64], reference: &[f64]) -> Option<Self> {
        if values.len() != reference.len() {
            return None;
        }
        let mut r: Vec<f64> = values
            .iter()
            .zip(reference)
            .filter(|(_, b)| **b > 0.0)
            .map(|(v, b)| v / b)
            .collect();
        if r.len() < 2 {
            return None;
        }
        let median = median(&mut r);
        Some(Self {
            median,
            min: r[0],
            max: r[r.len() - 1],
            at_least_one: r.iter().filter(|x| **x >= 1.0).count(),
            blocks: r.len(),
        })
    }
}

impl std::fmt::Display for BlockRatios {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:.2}x ({:.2}-{:.2}x, {} blocks)",
            self.median, self.min, self.max, self.blocks
        )
    }
}

/// Runs `count` implementations in `blocks` rounds, one measurement of each per round,
/// each round starting with the next one (so that none always runs right after the
/// same one); returns each implementation's results in block order: `rates[i][b]`.
///
/// # Examples
///
/// ```
/// let mut order = Vec::new();
/// let rates = shmlane_cli::bench::rotated_blocks(2, 2, |i| { order.push(i); i as f64 });
/// assert_eq!(order, [0, 1, 1, 0]);
/// assert_eq!(rates, [vec![0.0, 0.0], vec![1.0, 1.0]]);
/// ```
pub fn rotated_blocks(
    count: usize,
    blocks: usize,
    mut measure: impl FnMut(usize) -> f64,
) -> Vec<Vec<f64>> {
    let mut rates = vec![Vec::with_capacity(blocks); count];
    for b in 0..blocks {
        for k in 0..count {
            let i = (b + k) % count;
            rates[i].push(measure(i));
        }
    }
    rates
}
