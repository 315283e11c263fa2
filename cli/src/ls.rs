//! The table that `shmlane ls` prints: one line per segment in `/dev/shm`, each column
//! as wide as its widest cell (type names such as `my_app::Frame<[u8; 4096]>` are long).
//!
//! ```
//! let out = shmlane_cli::ls::table(&[]);
//! assert!(out.starts_with("name"));
//! assert_eq!(out.lines().count(), 1); // the header only
//! ```

use shmlane::segment::SegmentInfo;

/// Column headers; `true` where the column is right-aligned (numbers).
const COLUMNS: [(&str, bool); 8] = [
    ("name", false),
    ("kind", false),
    ("capacity", true),
    ("elem", true),
    ("type", false),
    ("creator", false),
    ("stale", false),
    ("endpoints", false),
];

/// Formats `infos` as `shmlane ls` prints them: a header, then one line per segment
/// (kind, capacity, element size and type, creator pid and whether it is alive, stale,
/// endpoints); a file that is not a usable segment gets its name and the reason.
pub fn table(infos: &[SegmentInfo]) -> String {
    let header: Vec<String> = COLUMNS.iter().map(|(h, _)| (*h).to_owned()).collect();
    let mut rows = vec![Line::Cells(header)];
    for i in infos {
        rows.push(match &i.malformed {
            Some(why) => Line::Malformed(
                i.name.clone(),
                format!("not a usable segment: {why}; stale {}", i.stale),
            ),
            None => Line::Cells(cells(i)),
        });
    }
    // Widths over the aligned rows; a malformed line's name counts too, so that its
    // reason starts where the other lines' kind does.
    let mut width = [0usize; COLUMNS.len()];
    for row in &rows {
        match row {
            Line::Cells(cells) => {
                for (w, c) in width.iter_mut().zip(cells) {
                    *w = (*w).max(c.chars().count());
                }
            }
            Line::Malformed(name, _) => width[0] = width[0].max(name.chars().count()),
        }
    }
    let mut out = String::new();
    for row in &rows {
        let line = match row {
            Line::Cells(cells) => {
                let last = cells.len() - 1;
                let padded: Vec<String> = cells
                    .iter()
                    .zip(COLUMNS.iter().zip(width))
                    .enumerate()
                    .map(|(k, (c, ((_, right), w)))| match (k == last, right) {
                        (true, _) => c.clone(), // the last column is not padded
                        (false, true) => format!("{c:>w$}"),
                        (false, false) => format!("{c:<w$}"),
                    })
                    .collect();
                padded.join(" ")
            }
            Line::Malformed(name, why) => format!("{name:<w$} {why}", w = width[0]),
        };
        out += line.trim_end();
        out.push('\n');
    }
    out
}

/// One line of the table before alignment.
enum Line {
    /// One cell per column of [`COLUMNS`].
    Cells(Vec<String>),
    /// A file that is not a usable segment: its name and the reason.
    Malformed(String, String),
}

fn cells(i: &SegmentInfo) -> Vec<String> {
    let kind = i
        .kind
        .map_or("?".to_owned(), |k| format!("{k:?}").to_lowercase());
    let creator = format!(
        "{} ({})",
        i.creator.0,
        if i.creator.1 { "alive" } else { "dead" }
    );
    let eps: Vec<String> = i
        .endpoints
        .iter()
        .map(|(ring, side, status, pid, alive)| {
            let who = if *pid == 0 {
                String::new()
            } else {
                format!(" pid {pid}{}", if *alive { "" } else { " dead" })
            };
            format!("{ring}:{side}={status:?}{who}")
        })
        .collect();
    let persisted = if i.persisted { " persisted" } else { "" };
    vec![
        i.name.clone(),
        kind,
        i.capacity.to_string(),
        i.elem_size.to_string(),
        i.type_name.clone(),
        creator,
        i.stale.to_string(),
        format!("{}{persisted}", eps.join(", ")),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(name: &str, type_name: &str) -> SegmentInfo {
        SegmentInfo {
            name: name.into(),
            kind: None,
            capacity: 1024,
            elem_size: 8,
            type_name: type_name.into(),
            creator: (4242, true),
            persisted: false,
            endpoints: Vec::new(),
            malformed: None,
            stale: false,
        }
    }

    #[test]
    fn long_type_names_keep_the_columns_aligned() {
        let long = "my_app::telemetry::FrameHeaderWithALongName<[u8; 4096]>";
        let infos = [
            info("short", "u64"),
            info("a-much-longer-segment-name-than-28", long),
            SegmentInfo {
                malformed: Some("bad magic".into()),
                ..info("broken", "")
            },
        ];
        let out = table(&infos);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 4, "{out}");
        // The creator column starts at the same place on the header and every segment
        // line, however long the type name before it.
        let at = lines[0].find("creator").unwrap();
        for line in &lines[1..3] {
            assert_eq!(line.find("4242 (alive)"), Some(at), "{out}");
            assert!(line[..at].ends_with(' '), "{out}");
        }
        assert!(lines[2].contains(long), "{out}");
        // The malformed file's reason starts where the kind column does.
        assert_eq!(
            lines[3].find("not a usable segment"),
            lines[0].find("kind"),
            "{out}"
        );
    }
}
