//! The text tables `shmlane bench` prints: ratios to the floor and to the OS pipe, and
//! per-block ratios of interleaved runs.

use super::{BlockRatios, Latency, Row};

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}x", a / b),
        _ => "-".into(),
    }
}

/// Formats latency/throughput rows as a table, with ratios to peers of the same run:
/// p50 relative to the spinning floor, msgs/s relative to the OS pipe.
pub fn table(rows: &[Row]) -> String {
    let p50 = |r: &Row| r.latency.as_ref().map(|l| l.p50 as f64);
    let floor = rows
        .iter()
        .find(|r| r.transport == "shm-atomics-floor")
        .and_then(p50);
    let pipe = rows
        .iter()
        .find(|r| r.transport == "os-pipe")
        .and_then(|r| r.msgs_per_sec);
    let of = |name: &str| rows.iter().find(|r| r.transport == name);
    let (spin_floor, sleep_floor) = (of("shm-atomics-floor"), of("shm-futex-floor"));
    let mut out = format!(
        "{:<18} {:<9} {:>7} {:>9} {:>9} {:>9} {:>10} {:>13} {:>11} {:>12}  {}\n",
        "transport",
        "mode",
        "payload",
        "p50 ns",
        "p99 ns",
        "p99.9 ns",
        "p50/floor",
        "msgs/s",
        "vs os-pipe",
        "futex/1M msg",
        "per block: p50/its floor"
    );
    for r in rows {
        let l =
            |f: fn(&Latency) -> u64| r.latency.as_ref().map_or("-".into(), |l| f(l).to_string());
        out += &format!(
            "{:<18} {:<9} {:>7} {:>9} {:>9} {:>9} {:>10} {:>13} {:>11} {:>12}  {}\n",
            r.transport,
            r.mode,
            r.payload_bytes,
            l(|l| l.p50),
            l(|l| l.p99),
            l(|l| l.p999),
            ratio(p50(r), floor),
            r.msgs_per_sec.map_or("-".into(), |v| format!("{v:.0}")),
            ratio(r.msgs_per_sec, pipe),
            r.futex_per_million
                .map_or("-".into(), |v| format!("{v:.1}")),
            // Sleeping rows against the sleeping floor, the others against the spinning one.
            block_ratios(
                r,
                if r.mode == "sleep" {
                    sleep_floor
                } else {
                    spin_floor
                }
            ),
        );
    }
    out
}

/// Median and range of `row`'s per-block p50 over `floor`'s, block by block ("-" when
/// either ran in one block, or for the floor itself).
fn block_ratios(row: &Row, floor: Option<&Row>) -> String {
    let Some(floor) = floor.filter(|f| f.transport != row.transport) else {
        return "-".into();
    };
    let as_f64 = |v: &[u64]| v.iter().map(|&p| p as f64).collect::<Vec<_>>();
    block_summary(
        &as_f64(&row.block_p50),
        &as_f64(&floor.block_p50),
        &floor.transport,
    )
}

/// [`BlockRatios`] of `values` over `base`, naming the base ("-" when there are none).
fn block_summary(values: &[f64], base: &[f64], base_name: &str) -> String {
    BlockRatios::new(values, base).map_or("-".into(), |r| {
        format!(
            "{:.2}x ({:.2}-{:.2}x, {} blocks, vs {base_name})",
            r.median, r.min, r.max, r.blocks
        )
    })
}

/// Formats bulk rows: bandwidth relative to memcpy (cache-resident and memory-bound)
/// and to the OS pipe.
pub fn bulk_table(rows: &[Row]) -> String {
    let of = |name: &str, mode: &str| {
        rows.iter()
            .find(|r| r.transport == name && (mode.is_empty() || r.mode == mode))
            .and_then(Row::bytes_per_sec)
    };
    let (cached, large, pipe) = (
        of("memcpy", "1MiB"),
        of("memcpy", "256MiB"),
        of("os-pipe", ""),
    );
    let large_row = rows
        .iter()
        .find(|r| r.transport == "memcpy" && r.mode == "256MiB");
    let mut out = format!(
        "{:<18} {:<9} {:>8} {:>8} {:>12} {:>14} {:>11}  {}\n",
        "bulk transport",
        "mode",
        "write",
        "GB/s",
        "vs memcpy1M",
        "vs memcpy256M",
        "vs os-pipe",
        "per block: GB/s over memcpy256M's"
    );
    for r in rows {
        let per_block = match large_row {
            Some(l) if !std::ptr::eq(l, r) => {
                block_summary(&r.block_rate, &l.block_rate, "memcpy 256MiB")
            }
            _ => "-".into(),
        };
        out += &format!(
            "{:<18} {:<9} {:>8} {:>8} {:>12} {:>14} {:>11}  {}\n",
            r.transport,
            r.mode,
            r.payload_bytes,
            r.bytes_per_sec()
                .map_or("-".into(), |b| format!("{:.2}", b / 1e9)),
            ratio(r.bytes_per_sec(), cached),
            ratio(r.bytes_per_sec(), large),
            ratio(r.bytes_per_sec(), pipe),
            per_block,
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_summary_takes_ratios_block_by_block() {
        // Block 2's base is 0 (nothing measured): skipped, not a division by zero.
        let s = block_summary(&[2.0, 6.0, 5.0, 9.0], &[1.0, 2.0, 0.0, 10.0], "base");
        assert_eq!(s, "2.00x (0.90-3.00x, 3 blocks, vs base)");
        assert_eq!(
            block_summary(&[1.0, 2.0], &[1.0], "base"),
            "-",
            "mismatched"
        );
        assert_eq!(block_summary(&[1.0], &[1.0], "base"), "-", "one block");
    }
}
