//! Latency distributions from HDR histograms.

use hdrhistogram::Histogram;

/// One-way latency distribution (half of each round trip), in nanoseconds.
///
/// # Examples
///
/// ```
/// let l = shmlane_cli::bench::Latency::from_round_trips(&(1..=1000).map(|v| v * 2).collect::<Vec<_>>());
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
        Self::from_samples(rtts.iter().map(|r| r / 2))
    }

    /// Builds the distribution of one-way times measured directly (3 significant
    /// digits, HDR histogram).
    ///
    /// # Examples
    ///
    /// ```
    /// let l = shmlane_cli::bench::Latency::from_samples([100, 200, 300]);
    /// assert!((199..=201).contains(&l.p50));
    /// ```
    pub fn from_samples(ns: impl IntoIterator<Item = u64>) -> Self {
        let mut h =
            Histogram::<u64>::new_with_bounds(1, 3_600_000_000_000, 3).expect("valid bounds");
        for v in ns {
            h.saturating_record(v.max(1));
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
