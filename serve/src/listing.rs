//! Directory listings of the repository in the two forms Wraith's `http://` client reads: a
//! WebDAV PROPFIND `207 Multi-Status` answer (asked first) and an HTML index page. Entries
//! that lead out of the served root through a symlink are left out, as are entries that are
//! neither files nor directories.

use crate::paths;
use std::io;
use std::path::Path;

pub struct Entry {
    pub name: String,
    pub dir: bool,
    pub len: u64,
    pub modified: std::time::SystemTime,
}

/// The entries of `dir` (under `root`), sorted by name. `hide_jobs`: leave out `jobs` at the
/// root (the jobs directory, served apart).
pub fn entries(root: &Path, dir: &Path, hide_jobs: bool) -> io::Result<Vec<Entry>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let Ok(name) = e.file_name().into_string() else {
            continue;
        };
        if hide_jobs && dir == root && name == "jobs" {
            continue;
        }
        let Ok(real) = e.path().canonicalize() else {
            continue;
        };
        if !real.starts_with(root) {
            continue;
        }
        let Ok(md) = std::fs::metadata(&real) else {
            continue;
        };
        if !md.is_dir() && !md.is_file() {
            continue;
        }
        out.push(Entry {
            name,
            dir: md.is_dir(),
            len: if md.is_file() { md.len() } else { 0 },
            modified: md.modified().unwrap_or(std::time::UNIX_EPOCH),
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Text for HTML and XML: the five special characters as references.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn response(href: &str, dir: bool, len: u64, modified: std::time::SystemTime) -> String {
    let kind = if dir {
        "<D:resourcetype><D:collection/></D:resourcetype>".to_string()
    } else {
        format!("<D:resourcetype/><D:getcontentlength>{len}</D:getcontentlength>")
    };
    format!(
        "<D:response><D:href>{}</D:href><D:propstat><D:prop>{kind}\
         <D:getlastmodified>{}</D:getlastmodified></D:prop>\
         <D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>\n",
        escape(href),
        httpdate::fmt_http_date(modified)
    )
}

/// The PROPFIND answer for `target` (a file or directory under `root`) asked at `uri` (the
/// request's path, still encoded), with `depth` 0 or 1.
pub fn propfind(
    root: &Path,
    target: &Path,
    uri: &str,
    depth: u8,
    hide_jobs: bool,
) -> io::Result<String> {
    let md = std::fs::metadata(target)?;
    let mut s = String::from(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<D:multistatus xmlns:D=\"DAV:\">\n",
    );
    let self_href = if md.is_dir() && !uri.ends_with('/') {
        format!("{uri}/")
    } else {
        uri.to_string()
    };
    s.push_str(&response(
        &self_href,
        md.is_dir(),
        md.len(),
        md.modified().unwrap_or(std::time::UNIX_EPOCH),
    ));
    if md.is_dir() && depth == 1 {
        for e in entries(root, target, hide_jobs)? {
            let href = format!(
                "{self_href}{}{}",
                paths::encode(&e.name),
                if e.dir { "/" } else { "" }
            );
            s.push_str(&response(&href, e.dir, e.len, e.modified));
        }
    }
    s.push_str("</D:multistatus>\n");
    Ok(s)
}
