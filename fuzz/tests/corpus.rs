//! Stable replay of the fuzz targets over their seed corpora (fuzz/corpus/*), so CI runs
//! every target without nightly.

/// Runs `run` over every file of fuzz/corpus/<target>; returns how many inputs ran and
/// how many `run` reported as accepted.
fn replay(target: &str, run: impl Fn(&[u8]) -> bool) -> (usize, usize) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target);
    let (mut n, mut accepted) = (0, 0);
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            accepted += usize::from(run(&std::fs::read(&path).unwrap()));
            n += 1;
        }
    }
    assert!(n >= 8, "{target}: only {n} seeds in {}", dir.display());
    eprintln!("{target}: {n} inputs replayed, {accepted} accepted");
    (n, accepted)
}

#[test]
fn spsc_ops_corpus() {
    replay("spsc_ops", |d| {
        shmlane_fuzz::spsc_ops(d);
        true
    });
}

#[test]
fn mpmc_ops_corpus() {
    replay("mpmc_ops", |d| {
        shmlane_fuzz::mpmc_ops(d);
        true
    });
}

#[test]
fn header_corpus() {
    let (n, valid) = replay("header", shmlane_fuzz::header);
    // The corpus must reach the checks behind a valid header, and refuse the rest.
    assert!(valid >= 5 && valid < n, "{valid} of {n} headers validated");
}

#[test]
fn pool_ops_corpus() {
    replay("pool_ops", |d| {
        shmlane_fuzz::pool_ops(d);
        true
    });
}
