//! The only writes the server takes: what a job does to keep its result and log in the
//! repository's `results/`, exactly as Wraith's `http://` client does it (`HttpStore::put_new`):
//! MKCOL of `tmp/` and `results/`, PUT of the bytes to `tmp/NAME.tmp`, MOVE with
//! `Overwrite: F` into `results/NAME`, and DELETE of its own temporary file when something
//! failed. Uploads are bounded in size and number; a file in `results/` is never replaced
//! (412, as a WebDAV server answers `Overwrite: F`). Everything else is refused with 403 and
//! a body saying why: images are saved on the server's own disk, never through `serve`.

use crate::paths;
use crate::server::{small_body, text, Body, Shared};
use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::{header, Request, Response, StatusCode};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Uploads waiting in `tmp/` beyond which new ones are refused (a client gone wild must not
/// fill the server's disk).
const MAX_PENDING: usize = 256;

const READ_ONLY: &str = "the repository is read-only here: only a job's result and log may be \
                         written (PUT into tmp/, then MOVE into results/). Save images to the \
                         repository directory on the serving machine itself";

/// A file name a job's upload may have: plain characters, not hidden, not too long.
fn plain_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 200
        && !s.starts_with('.')
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

fn forbidden(what: &str) -> Response<Body> {
    text(StatusCode::FORBIDDEN, &format!("{what}: {READ_ONLY}"))
}

pub(crate) async fn handle(
    shared: &Arc<Shared>,
    ip: IpAddr,
    req: Request<Incoming>,
    rel: &[String],
) -> Response<Body> {
    let method = req.method().as_str().to_string();
    let rel: Vec<&str> = rel.iter().map(String::as_str).collect();
    match (method.as_str(), rel.as_slice()) {
        // The repository itself and the two directories a job writes in.
        ("MKCOL", []) => text(StatusCode::METHOD_NOT_ALLOWED, "the repository exists"),
        ("MKCOL", [d @ ("tmp" | "results")]) => {
            let p = shared.repo.join(d);
            if p.is_dir() {
                return text(StatusCode::METHOD_NOT_ALLOWED, "it exists");
            }
            if let Err(r) = small_body(req).await {
                return r;
            }
            match std::fs::create_dir(&p) {
                Ok(()) => text(StatusCode::CREATED, "created"),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    text(StatusCode::METHOD_NOT_ALLOWED, "it exists")
                }
                Err(e) => text(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &format!("creating {}: {e}", p.display()),
                ),
            }
        }
        ("MKCOL", _) => forbidden("creating directories"),
        ("PUT", ["tmp", name]) if plain_name(name) => put(shared, req, name).await,
        ("PUT", _) => forbidden("writing files"),
        ("DELETE", ["tmp", name]) if plain_name(name) => {
            match std::fs::remove_file(shared.repo.join("tmp").join(name)) {
                Ok(()) => text(StatusCode::NO_CONTENT, "deleted"),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    text(StatusCode::NOT_FOUND, "not found")
                }
                Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, &format!("deleting: {e}")),
            }
        }
        ("DELETE", _) => forbidden("deleting files"),
        ("MOVE", ["tmp", name]) if plain_name(name) => {
            let dest = req
                .headers()
                .get("destination")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            move_into_results(shared, ip, name, dest.as_deref())
        }
        ("MOVE", _) => forbidden("moving files"),
        _ => forbidden("this request"),
    }
}

async fn put(shared: &Arc<Shared>, req: Request<Incoming>, name: &str) -> Response<Body> {
    let max = shared.max_upload;
    let announced = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let too_large = || {
        text(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("a job's result or log is at most {max} bytes"),
        )
    };
    if announced.is_some_and(|n| n > max) {
        return too_large();
    }
    let tmp = shared.repo.join("tmp");
    let pending = std::fs::read_dir(&tmp).map(|rd| rd.count()).unwrap_or(0);
    if pending >= MAX_PENDING {
        return text(
            StatusCode::INSUFFICIENT_STORAGE,
            &format!(
                "{pending} uploads are already waiting in tmp/; clear {} on the server",
                tmp.display()
            ),
        );
    }
    let body: Bytes = match Limited::new(req.into_body(), max as usize).collect().await {
        Ok(c) => c.to_bytes(),
        Err(_) => return too_large(),
    };
    let dest = tmp.join(name);
    let done = tokio::task::spawn_blocking(move || write_new(&dest, &body))
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())));
    match done {
        Ok(()) => text(StatusCode::CREATED, "stored"),
        Err(e) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("writing {}/tmp/{name}: {e}", shared.repo.display()),
        ),
    }
}

/// Writes `dest` in `tmp/` through a file of its own, renamed into place when complete: a
/// retried PUT of the same temporary name replaces it whole.
fn write_new(dest: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(dir) = dest.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let part = dest.with_extension(format!("part-{}", std::process::id()));
    let mut f = std::fs::File::create(&part)?;
    f.write_all(data)?;
    f.sync_all()?;
    std::fs::rename(&part, dest)
}

/// The repository-relative path of a MOVE's Destination (a URL or an absolute path), if it is
/// a plain file directly in `results/` of the repository at `/repo`.
fn results_target(dest: &str) -> Option<String> {
    let path = match dest.find("://") {
        Some(i) => {
            let rest = &dest[i + 3..];
            &rest[rest.find('/')?..]
        }
        None => dest,
    };
    let (segs, trailing) = paths::segments(path).ok()?;
    match segs.as_slice() {
        [r, d, name] if r == "repo" && d == "results" && !trailing && plain_name(name) => {
            Some(name.clone())
        }
        _ => None,
    }
}

fn move_into_results(
    shared: &Arc<Shared>,
    ip: IpAddr,
    name: &str,
    dest: Option<&str>,
) -> Response<Body> {
    let Some(target) = dest.and_then(results_target) else {
        return forbidden("moving files anywhere but into results/");
    };
    let from = shared.repo.join("tmp").join(name);
    if !from.is_file() {
        return text(StatusCode::NOT_FOUND, "no such upload in tmp/");
    }
    let results = shared.repo.join("results");
    if let Err(e) = std::fs::create_dir_all(&results) {
        return text(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("creating {}: {e}", results.display()),
        );
    }
    let to = results.join(&target);
    match place(&from, &to) {
        Ok(true) => {}
        Ok(false) => {
            return text(
                StatusCode::PRECONDITION_FAILED,
                "results/ already holds a file of that name; it is never replaced",
            )
        }
        Err(e) => {
            return text(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("moving into {}: {e}", to.display()),
            )
        }
    }
    if target.ends_with(".json") {
        if let Some(v) = std::fs::read(&to)
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        {
            shared.room.result(ip, &v);
        }
    }
    text(StatusCode::CREATED, "kept")
}

/// Moves `from` to `to` unless `to` exists: a hard link fails rather than replace, then the
/// temporary name goes. Where the filesystem has no hard links (FAT on a USB drive) a rename
/// after a check does it; the server is the only writer of `results/`. `Ok(false)`: `to`
/// exists.
fn place(from: &Path, to: &PathBuf) -> std::io::Result<bool> {
    match std::fs::hard_link(from, to) {
        Ok(()) => {
            std::fs::remove_file(from)?;
            Ok(true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(_) if to.exists() => Ok(false),
        Err(_) => {
            std::fs::rename(from, to)?;
            Ok(true)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_files_in_results_are_move_targets() {
        assert_eq!(
            results_target("http://10.0.0.1:8080/repo/results/20261204-restore.json").as_deref(),
            Some("20261204-restore.json")
        );
        assert_eq!(
            results_target("/repo/results/a.log").as_deref(),
            Some("a.log")
        );
        for bad in [
            "http://h/repo/images/x.manifest",
            "http://h/repo/results/../images/x",
            "http://h/repo/results/%2e%2e%2fx",
            "http://h/repo/results/sub/x.json",
            "http://h/repo/results/.hidden",
            "http://h/other/results/x.json",
            "http://h/repo/results/",
        ] {
            assert_eq!(results_target(bad), None, "{bad}");
        }
    }
}
