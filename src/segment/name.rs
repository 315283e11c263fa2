//! Segment names: the one place that turns a user's name into a file name and back.
//!
//! A user name `demo` lives at `/dev/shm/shmlane.demo`. A segment under construction
//! lives at `/dev/shm/shmlane.tmp.<pid>.<n>` and is linked to its final name only once
//! initialized, so nobody can open a half-built segment.

use crate::error::NameError;

/// Directory of POSIX shared memory objects on Linux.
pub const SHM_DIR: &str = "/dev/shm";
/// Prefix of every shmlane object in [`SHM_DIR`].
pub const PREFIX: &str = "shmlane.";
/// Prefix of segments still under construction.
pub const TMP_PREFIX: &str = "shmlane.tmp.";
/// Longest user name accepted (leaves room for the prefix within `NAME_MAX`).
pub const MAX_NAME_LEN: usize = 200;

/// Checks a user-visible segment name.
///
/// Allowed: 1 to 200 bytes of ASCII letters, digits, `.`, `_`, `-`, not starting with
/// `.` and not beginning with `tmp.` (reserved for segments under construction).
///
/// # Examples
///
/// ```
/// use shmlane::segment::check_name;
/// assert!(check_name("frames-0").is_ok());
/// assert!(check_name("").is_err());
/// assert!(check_name("a/b").is_err());
/// ```
pub fn check_name(name: &str) -> Result<(), NameError> {
    let bad = |reason| {
        Err(NameError {
            name: name.to_owned(),
            reason,
        })
    };
    if name.is_empty() {
        return bad("empty");
    }
    if name.len() > MAX_NAME_LEN {
        return bad("longer than 200 bytes");
    }
    if name.contains('/') {
        return bad("contains '/'");
    }
    if name.starts_with('.') {
        return bad("starts with '.'");
    }
    if name.starts_with("tmp.") {
        return bad("'tmp.' prefix is reserved");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    {
        return bad("only ASCII letters, digits, '.', '_' and '-' are allowed");
    }
    Ok(())
}

/// The shm object name (for `shm_open`) of a checked user name.
pub(crate) fn object_name(name: &str) -> String {
    format!("{PREFIX}{name}")
}

/// The path under [`SHM_DIR`] of a shm object name.
pub(crate) fn path(object: &str) -> std::path::PathBuf {
    std::path::Path::new(SHM_DIR).join(object)
}

/// A fresh temporary object name for this process.
pub(crate) fn temp_object_name() -> String {
    static NEXT: std::sync::Mutex<u64> = std::sync::Mutex::new(0);
    let n = {
        let mut g = NEXT
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *g += 1;
        *g
    };
    format!("{TMP_PREFIX}{}.{n}", std::process::id())
}

/// A canonical decimal (no sign, no leading zero, not empty), as `format!` writes it.
fn canonical<N: std::str::FromStr + ToString>(s: &str) -> Option<N> {
    let n: N = s.parse().ok()?;
    (n.to_string() == s).then_some(n)
}

/// The user name in a shm object name `shmlane.<name>`, if [`check_name`] accepts it
/// (so never a temporary).
pub(crate) fn parse_object(object: &str) -> Option<&str> {
    let user = object.strip_prefix(PREFIX)?;
    check_name(user).ok().map(|()| user)
}

/// `(pid, n)` of a temporary object name exactly as [`temp_object_name`] makes it:
/// `shmlane.tmp.<pid>.<n>`, both canonical decimals, pid and n non-zero.
pub(crate) fn parse_temp(object: &str) -> Option<(u32, u64)> {
    let (pid, n) = object.strip_prefix(TMP_PREFIX)?.split_once('.')?;
    let (pid, n) = (canonical::<u32>(pid)?, canonical::<u64>(n)?);
    (pid != 0 && n != 0).then_some((pid, n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["a", "frames-0", "x.y_z", &"n".repeat(200)] {
            assert!(check_name(ok).is_ok(), "{ok}");
        }
        for (bad, why) in [
            ("", "empty"),
            ("/", "contains '/'"),
            ("a/b", "contains '/'"),
            (&"n".repeat(201), "longer than 200 bytes"),
            ("..", "starts with '.'"),
            ("tmp.1", "'tmp.' prefix is reserved"),
            (
                "sp ace",
                "only ASCII letters, digits, '.', '_' and '-' are allowed",
            ),
            (
                "nul\0",
                "only ASCII letters, digits, '.', '_' and '-' are allowed",
            ),
        ] {
            assert_eq!(check_name(bad).unwrap_err().reason, why, "{bad:?}");
        }
        assert_eq!(object_name("demo"), "shmlane.demo");
    }

    #[test]
    fn parsers_accept_exactly_what_we_make() {
        let tmp = temp_object_name();
        let (pid, n) = parse_temp(&tmp).unwrap();
        assert_eq!(
            (pid, format!("{TMP_PREFIX}{pid}.{n}")),
            (std::process::id(), tmp)
        );
        for bad in [
            "shmlane.tmp.",
            "shmlane.tmp.12",
            "shmlane.tmp.12.",
            "shmlane.tmp..3",
            "shmlane.tmp.+12.3",
            "shmlane.tmp.012.3",
            "shmlane.tmp.12.3.4",
            "shmlane.tmp.0.3",
            "shmlane.tmp.12.0",
            "shmlane.tmp.x.3",
            "shmlane.tmp.99999999999.3",
            "other.tmp.12.3",
        ] {
            assert_eq!(parse_temp(bad), None, "{bad}");
        }
        assert_eq!(parse_object("shmlane.demo-1"), Some("demo-1"));
        for bad in [
            "shmlane.",
            "shmlane.tmp.12.3",
            "shmlane.a b",
            "demo",
            "shmlane..x",
        ] {
            assert_eq!(parse_object(bad), None, "{bad}");
        }
    }
}
