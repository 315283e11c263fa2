//! A latency CDF as a small self-contained SVG (log-scale latency against "nines").

use super::Row;
use std::fmt::Write;

const W: f64 = 760.0;
const H: f64 = 420.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 200.0;
const TOP: f64 = 20.0;
const BOTTOM: f64 = 50.0;
const COLORS: [&str; 10] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf",
];

/// Renders the one-way latency CDFs of `rows` (those with a latency) as SVG: x is the
/// latency in ns on a log scale, y the quantile on a "nines" scale (50 %, 90 %, 99 %,
/// 99.9 %, 99.99 %).
///
/// # Examples
///
/// ```
/// use shmlane::bench::{Latency, Row, Transport, cdf_svg};
/// let mut r = Row::new(Transport::ShmSpin, 8);
/// r.latency = Some(Latency::from_round_trips(&[200, 220, 260, 4000]));
/// assert!(cdf_svg(&[r], "title").starts_with("<svg"));
/// ```
pub fn cdf_svg(rows: &[Row], title: &str) -> String {
    let series: Vec<(&Row, &Vec<(f64, u64)>)> = rows
        .iter()
        .filter_map(|r| r.latency.as_ref().map(|l| (r, &l.cdf)))
        .collect();
    let all = series
        .iter()
        .flat_map(|(_, c)| c.iter().map(|p| p.1.max(1) as f64));
    let (lo, hi) = all.fold((f64::MAX, 1.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let (x0, x1) = (
        lo.max(1.0).log10().floor(),
        hi.log10().ceil().max(lo.log10().floor() + 1.0),
    );
    let nines = |q: f64| -(1.0 - q).max(1e-4).log10(); // 0 at 0 %, 4 at 99.99 %
    let px = |ns: f64| LEFT + (ns.max(1.0).log10() - x0) / (x1 - x0) * (W - LEFT - RIGHT);
    let py = |q: f64| H - BOTTOM - nines(q) / 4.0 * (H - TOP - BOTTOM);
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" font-family=\"sans-serif\" font-size=\"12\">\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\
         <text x=\"{LEFT}\" y=\"14\" font-weight=\"bold\">{title}</text>"
    );
    for d in x0 as i32..=x1 as i32 {
        let x = px(10f64.powi(d));
        let label = match d {
            0..=2 => format!("{} ns", 10u64.pow(d as u32)),
            3..=5 => format!("{} µs", 10u64.pow(d as u32 - 3)),
            _ => format!("{} ms", 10u64.pow((d as u32).saturating_sub(6))),
        };
        let _ = write!(
            s,
            "<line x1=\"{x:.1}\" y1=\"{TOP}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"#ddd\"/>\
             <text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{label}</text>",
            H - BOTTOM,
            H - BOTTOM + 16.0
        );
    }
    for (q, label) in [
        (0.0, "0%"),
        (0.9, "90%"),
        (0.99, "99%"),
        (0.999, "99.9%"),
        (0.9999, "99.99%"),
    ] {
        let y = py(q);
        let _ = write!(
            s,
            "<line x1=\"{LEFT}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"#ddd\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{label}</text>",
            W - RIGHT,
            LEFT - 6.0,
            y + 4.0
        );
    }
    let _ = write!(
        s,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">one-way latency (log scale)</text>",
        (LEFT + W - RIGHT) / 2.0,
        H - 12.0
    );
    for (i, (row, cdf)) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let points: Vec<String> = cdf
            .iter()
            .map(|&(q, ns)| format!("{:.1},{:.1}", px(ns as f64), py(q)))
            .collect();
        let ly = TOP + 10.0 + 18.0 * i as f64;
        let _ = write!(
            s,
            "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{}\"/>\
             <line x1=\"{:.1}\" y1=\"{ly:.1}\" x2=\"{:.1}\" y2=\"{ly:.1}\" stroke=\"{color}\" stroke-width=\"3\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\">{} ({})</text>",
            points.join(" "),
            W - RIGHT + 10.0,
            W - RIGHT + 30.0,
            W - RIGHT + 36.0,
            ly + 4.0,
            row.transport,
            row.mode
        );
    }
    s.push_str("</svg>\n");
    s
}
