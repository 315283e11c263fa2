//! Interleaved runs: every transport in blocks, one block of each in turn, merged.

use super::runner::measure;
use super::{Config, Latency, Row, Transport};
use std::io;
use std::process::Command;

/// Runs `transports` in `blocks` rounds, one block of each in turn, and merges each
/// transport's blocks into one row (all round trips in one histogram; rates and futex
/// counts over all messages); `progress(block, index, transport)` is called before each
/// (`index` into `transports`).
///
/// Interleaving is what makes "ratio to the floor in the same run" hold on a machine
/// whose timing drifts: on this project's VM the floor itself moves between ~40 and
/// ~250 ns over seconds, as the host moves the vCPUs. Each row also keeps its
/// per-block p50s ([`Row::block_p50`]), so a ratio can be taken block by block.
///
/// # Examples
///
/// ```no_run
/// use shmlane_cli::bench::{run_interleaved, self_peer, Config, Transport};
/// # if shmlane_cli::bench::run_peer_if("MY_BENCH_PEER") { return Ok(()); }
/// let peer = self_peer("MY_BENCH_PEER");
/// let cfg = Config { rounds: 100_000, messages: 0, payload: 8 };
/// let rows = run_interleaved(&[Transport::Floor, Transport::ShmSpin], &cfg, 10, &peer, |_, _, _| {})?;
/// assert_eq!(rows[1].block_p50.len(), 10);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn run_interleaved(
    transports: &[Transport],
    cfg: &Config,
    blocks: usize,
    peer: &dyn Fn() -> Command,
    mut progress: impl FnMut(usize, usize, Transport),
) -> io::Result<Vec<Row>> {
    let blocks = blocks.max(1);
    let part = |total: u64| total.div_ceil(blocks as u64);
    let block_cfg = Config {
        rounds: part(cfg.rounds as u64) as usize,
        messages: part(cfg.messages),
        payload: cfg.payload,
    };
    let mut merged: Vec<Merged> = transports
        .iter()
        .map(|&t| Merged::new(Row::new(t, cfg.payload)))
        .collect();
    for b in 0..blocks {
        for (i, (&t, m)) in transports.iter().zip(&mut merged).enumerate() {
            progress(b, i, t);
            let (row, rtts) = measure(t, &block_cfg, peer)?;
            m.add(&row, rtts, block_cfg.messages);
        }
    }
    Ok(merged.into_iter().map(Merged::finish).collect())
}

/// One transport's blocks of an interleaved run, summed.
struct Merged {
    row: Row,
    rtts: Vec<u64>,
    messages: f64,
    seconds: f64,
    futex_calls: Option<f64>,
}

impl Merged {
    fn new(row: Row) -> Self {
        Self {
            row,
            rtts: Vec::new(),
            messages: 0.0,
            seconds: 0.0,
            futex_calls: None,
        }
    }

    fn add(&mut self, block: &Row, rtts: Vec<u64>, messages: u64) {
        if !rtts.is_empty() {
            self.row
                .block_p50
                .push(Latency::from_round_trips(&rtts).p50);
            self.rtts.extend(rtts);
        }
        if let Some(rate) = block.msgs_per_sec.filter(|r| r.is_finite() && *r > 0.0) {
            self.row.block_rate.push(rate);
            let n = messages as f64;
            self.messages += n;
            self.seconds += n / rate;
            if let Some(per_million) = block.futex_per_million {
                *self.futex_calls.get_or_insert(0.0) += per_million * n / 1e6;
            }
        }
    }

    fn finish(mut self) -> Row {
        if !self.rtts.is_empty() {
            self.row.latency = Some(Latency::from_round_trips(&self.rtts));
        }
        if self.seconds > 0.0 {
            self.row.msgs_per_sec = Some(self.messages / self.seconds);
            self.row.futex_per_million = self.futex_calls.map(|c| c * 1e6 / self.messages);
        }
        self.row
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::BULK_WRITE;

    #[test]
    fn merged_blocks_keep_per_block_rates_and_sum_time() {
        let mut m = Merged::new(Row::new(Transport::Memcpy, BULK_WRITE));
        for rate in [100.0, 300.0] {
            let mut block = Row::new(Transport::Memcpy, BULK_WRITE);
            block.msgs_per_sec = Some(rate);
            m.add(&block, Vec::new(), 300);
        }
        let row = m.finish();
        assert_eq!(row.block_rate, [100.0, 300.0]);
        // 600 messages in 3 s + 1 s: the merged rate is total over total, not a mean.
        assert_eq!(row.msgs_per_sec, Some(150.0));
        assert!(row.latency.is_none() && row.block_p50.is_empty());
    }
}
