//! Request paths to files under a served root, so that nothing outside the root is ever
//! reached: the path is percent-decoded one segment at a time (a decoded `/` or NUL in a
//! segment is refused, as are `.` and `..` and empty segments), and the file found is
//! canonicalised and must still lie under the canonical root, which refuses symlinks that
//! lead out of it.

use std::path::{Path, PathBuf};

/// Why a path is refused; the text is the answer's body.
#[derive(Debug, PartialEq, Eq)]
pub struct Refused(pub &'static str);

/// The decoded segments of a URL path (`/a/b%20c/` → `["a", "b c"]`), and whether it ended
/// with '/'. A query string must be cut off before.
pub fn segments(path: &str) -> Result<(Vec<String>, bool), Refused> {
    let trailing = path.len() > 1 && path.ends_with('/');
    let inner = path
        .strip_prefix('/')
        .ok_or(Refused("the path must start with '/'"))?;
    let inner = inner.strip_suffix('/').unwrap_or(inner);
    if inner.is_empty() {
        return Ok((Vec::new(), true));
    }
    let mut out = Vec::new();
    for raw in inner.split('/') {
        let bytes = decode(raw).ok_or(Refused("malformed percent-encoding in the path"))?;
        let seg = String::from_utf8(bytes).map_err(|_| Refused("the path is not UTF-8"))?;
        if seg.is_empty() {
            return Err(Refused("empty segment ('//') in the path"));
        }
        if seg == "." || seg == ".." {
            return Err(Refused("'.' and '..' are not allowed in paths"));
        }
        if seg.contains(['/', '\0', '\\']) {
            return Err(Refused(
                "an encoded '/', '\\' or NUL is not allowed in paths",
            ));
        }
        out.push(seg);
    }
    Ok((out, trailing))
}

/// Percent-decoding of one segment; `None` for a '%' not followed by two hex digits.
pub fn decode(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(out)
}

/// Percent-encodes one segment for an href (RFC 3986 unreserved characters kept).
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The file or directory `segs` names under `root` (canonical), if it exists and stays under
/// the root once symlinks are resolved. `Ok(None)`: nothing there.
pub fn resolve(root: &Path, segs: &[String]) -> Result<Option<PathBuf>, Refused> {
    let mut p = root.to_path_buf();
    for s in segs {
        p.push(s);
    }
    match p.canonicalize() {
        Ok(c) if c.starts_with(root) => Ok(Some(c)),
        Ok(_) => Err(Refused("this path leads out of the served directory")),
        Err(_) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_decode_and_traversal_is_refused() {
        assert_eq!(
            segments("/repo/my%20img/").unwrap(),
            (vec!["repo".to_string(), "my img".to_string()], true)
        );
        assert_eq!(segments("/").unwrap(), (vec![], true));
        for bad in [
            "/repo/../etc",
            "/repo/%2e%2e/etc",
            "/repo/a%2Fb",
            "/repo/a%00",
            "/repo//x",
            "/repo/%zz",
            "/repo/.",
            "/repo/%5c..",
        ] {
            assert!(segments(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn symlinks_out_of_the_root_are_refused() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("root");
        std::fs::create_dir(&root).unwrap();
        std::fs::write(d.path().join("secret"), b"x").unwrap();
        std::fs::write(root.join("inside"), b"y").unwrap();
        std::os::unix::fs::symlink(d.path().join("secret"), root.join("out")).unwrap();
        std::os::unix::fs::symlink("inside", root.join("in")).unwrap();
        let root = root.canonicalize().unwrap();
        assert!(resolve(&root, &["out".into()]).is_err());
        assert!(resolve(&root, &["in".into()]).unwrap().is_some());
        assert!(resolve(&root, &["none".into()]).unwrap().is_none());
    }
}
