//! Latency CDFs as SVG, drawn with plotters: log-scale latency against "nines".

use super::Row;
use plotters::prelude::*;
use std::io;

/// Renders the one-way latency CDFs of `rows` (those with a latency) as SVG: x is the
/// latency in ns on a log scale, y the quantile on a "nines" scale (0 %, 90 %, 99 %,
/// 99.9 %, 99.99 %, equally spaced).
///
/// # Examples
///
/// ```
/// use shmlane_cli::bench::{Latency, Row, Transport, cdf_svg};
/// let mut r = Row::new(Transport::ShmSpin, 8);
/// r.latency = Some(Latency::from_round_trips(&[200, 220, 260, 4000]));
/// let svg = cdf_svg(&[r], "title")?;
/// assert!(svg.starts_with("<svg") && svg.contains("shmlane-pipe (spin)"));
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn cdf_svg(rows: &[Row], title: &str) -> io::Result<String> {
    let series: Vec<(&Row, &Vec<(f64, u64)>)> = rows
        .iter()
        .filter_map(|r| r.latency.as_ref().map(|l| (r, &l.cdf)))
        .collect();
    let all = series
        .iter()
        .flat_map(|(_, c)| c.iter().map(|p| p.1.max(1) as f64));
    let (lo, hi) = all.fold((f64::MAX, 1.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    // Whole decades around the data (at least one).
    let d0 = lo.max(1.0).log10().floor();
    let d1 = hi.log10().ceil().max(d0 + 1.0);
    let err = |e: &dyn std::fmt::Display| io::Error::other(format!("plot: {e}"));
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (760, 420)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 14))
            .margin(12)
            .margin_right(30) // room for the last decade's label
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d((10f64.powf(d0)..10f64.powf(d1)).log_scale(), 0f64..4f64)
            .map_err(|e| err(&e))?;
        chart
            .configure_mesh()
            .x_desc("one-way latency (log scale)")
            .y_desc("quantile")
            .x_label_formatter(&|ns| ns_label(*ns))
            .y_labels(5)
            .y_label_formatter(&|n| nines_label(*n))
            .draw()
            .map_err(|e| err(&e))?;
        for (i, (row, cdf)) in series.iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            let points = cdf.iter().map(|&(q, ns)| (ns.max(1) as f64, nines(q)));
            chart
                .draw_series(LineSeries::new(points, color.stroke_width(2)))
                .map_err(|e| err(&e))?
                .label(format!("{} ({})", row.transport, row.mode))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(3))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .draw()
            .map_err(|e| err(&e))?;
        root.present().map_err(|e| err(&e))?;
    }
    Ok(svg)
}

/// Quantile `q` on the "nines" scale: 0 at 0 %, 1 at 90 %, ... 4 at 99.99 % (and beyond).
fn nines(q: f64) -> f64 {
    -(1.0 - q).max(1e-4).log10()
}

/// The quantile at `n` nines, as a percentage: `2.0` -> `"99%"`.
fn nines_label(n: f64) -> String {
    let pct = format!("{:.2}", 100.0 * (1.0 - 10f64.powf(-n)));
    format!("{}%", pct.trim_end_matches('0').trim_end_matches('.'))
}

/// `ns` with a unit: `"200 ns"`, `"1.5 µs"`, `"10 ms"`.
fn ns_label(ns: f64) -> String {
    let (v, unit) = match ns {
        n if n < 1e3 => (n, "ns"),
        n if n < 1e6 => (n / 1e3, "µs"),
        n => (n / 1e6, "ms"),
    };
    let v = format!("{v:.1}");
    format!("{} {unit}", v.trim_end_matches('0').trim_end_matches('.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_labels() {
        let labels: Vec<String> = (0..=4).map(|n| nines_label(n as f64)).collect();
        assert_eq!(labels, ["0%", "90%", "99%", "99.9%", "99.99%"]);
        assert_eq!(ns_label(200.0), "200 ns");
        assert_eq!(ns_label(1500.0), "1.5 µs");
        assert_eq!(ns_label(1e7), "10 ms");
        assert!((nines(0.99) - 2.0).abs() < 1e-9);
    }
}
