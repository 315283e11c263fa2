//! Latency distributions from HDR histograms.

use hdrhistogram::Histogram;

/// One-way latency distribution (half of each round trip), in nanoseconds.
///
/// # Examples
///
/// ```
/// let l = shmlane::bench::Latency::from_round_trips(&(1..=1000).map(|v| v * 2).collect::<Vec<_>>());
/// assert!((495..=505).contains(&l.p50));
/// assert!(l.p999 >= l.p99 && l.p99 >= l.p50);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Latency {
    /// Median.
    pub p50: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Largest sample.
    pub max: u64,
    /// Mean.
    pub mean: f64,
    /// `(quantile, ns)` points from the median out to 99.99 %, for plots.
    pub cdf: Vec<(f64, u64)>,
}

impl Latency {
    /// Builds the distribution of `rtt / 2` over the given round trips (3 significant
    /// digits, HDR histogram).
    pub fn from_round_trips(rtts: &[u64]) -> Self {
        let mut h =
            Histogram::<u64>::new_with_bounds(1, 3_600_000_000_000, 3).expect("valid bounds");
        for &r in rtts {
            h.saturating_record((r / 2).max(1));
        }
        // Quantiles 1 - 10^(-k/8): 8 points per "nine", from 0 to 99.99 %.
        let cdf = (0..=32)
            .map(|k| {
                let q = 1.0 - 10f64.powf(-(k as f64) / 8.0);
                (q, h.value_at_quantile(q))
            })
            .collect();
        Self {
            p50: h.value_at_quantile(0.50),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
            mean: h.mean(),
            cdf,
        }
    }
}

/// The median of `values` (sorted in place; the mean of the middle two for an even
/// count); NaN for none.
///
/// # Examples
///
/// ```
/// assert_eq!(shmlane::bench::median(&mut [3.0, 1.0, 2.0]), 2.0);
/// assert_eq!(shmlane::bench::median(&mut [4.0, 1.0, 2.0, 3.0]), 2.5);
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
/// use shmlane::bench::BlockRatios;
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
/// let rates = shmlane::bench::rotated_blocks(2, 2, |i| { order.push(i); i as f64 });
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
