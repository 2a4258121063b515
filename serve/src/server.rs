//! The HTTP/1.1 server (hyper on a multi-threaded tokio runtime): routing, the repository's
//! read side (GET/HEAD with single ranges, ETag and Last-Modified, HTML index and WebDAV
//! PROPFIND listings), the boot files and scripts, the jobs, and the room's progress posts.
//! File bytes are read on tokio's blocking pool and streamed through a small bounded channel,
//! so a room of machines each reading several packs at once keeps memory bounded.
//!
//! URL layout: `/repo/` the repository, `/boot/` network boot, `/jobs/<MAC>.toml` jobs,
//! `/room` the room as JSON, `/room/progress` progress posts, `/` a page saying all this.

use crate::boot::{self, BootDir};
use crate::paths::{self, Refused};
use crate::room::{Progress, Room, State};
use crate::{jobs, writes};
use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Full, Limited};
use hyper::body::{Frame, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use std::convert::Infallible;
use std::fs::File;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub type Body = BoxBody<Bytes, io::Error>;

/// Bodies up to this size are read at once; larger ones are streamed in pieces of this size.
const PIECE: usize = 256 << 10;
/// Pieces queued ahead of a slow client, per response.
const QUEUED: usize = 4;
/// A progress post or PROPFIND body is small; more is refused.
const SMALL_BODY: usize = 64 << 10;

/// What the server serves.
#[derive(Clone, Debug)]
pub struct Config {
    /// The repository directory.
    pub repo: PathBuf,
    /// The jobs directory, if any.
    pub jobs: Option<PathBuf>,
    pub boot: Option<BootDir>,
    /// `http://ADDR:PORT` as the room reaches this server: used where a request has no Host.
    pub base: String,
    /// More kernel parameters for network-booted machines.
    pub kernel_args: String,
    /// The largest result or log a job may upload.
    pub max_upload: u64,
}

pub(crate) struct Shared {
    pub(crate) repo: PathBuf,
    pub(crate) jobs: Option<PathBuf>,
    /// The jobs directory is the repository's `jobs/`: hidden from the repository's view.
    pub(crate) jobs_inside: bool,
    pub(crate) boot: Option<BootDir>,
    pub(crate) base: String,
    pub(crate) kernel_args: String,
    pub(crate) max_upload: u64,
    pub(crate) room: Room,
}

/// Serves on `listener` until `stop` is set. Blocks; runs its own runtime.
pub fn serve(
    listener: std::net::TcpListener,
    cfg: Config,
    room: Room,
    stop: Arc<AtomicBool>,
) -> io::Result<()> {
    let repo = cfg
        .repo
        .canonicalize()
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", cfg.repo.display())))?;
    if !repo.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{}: not a directory", repo.display()),
        ));
    }
    let jobs = cfg
        .jobs
        .as_ref()
        .map(|j| j.canonicalize().unwrap_or(j.clone()));
    let shared = Arc::new(Shared {
        jobs_inside: jobs.as_ref().is_some_and(|j| *j == repo.join("jobs")),
        repo,
        jobs,
        boot: cfg.boot,
        base: cfg.base.trim_end_matches('/').to_string(),
        kernel_args: cfg.kernel_args,
        max_upload: cfg.max_upload,
        room,
    });
    listener.set_nonblocking(true)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("wraith-serve")
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let accept = tokio::spawn(accept_loop(listener, shared));
        while !stop.load(Ordering::Relaxed) && !accept.is_finished() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if accept.is_finished() {
            return match accept.await {
                Ok(r) => r,
                Err(e) => Err(io::Error::other(e.to_string())),
            };
        }
        accept.abort();
        Ok(())
    })?;
    // Connections still open (a client half-way through a pack) are cut, not waited for.
    rt.shutdown_timeout(Duration::from_secs(1));
    Ok(())
}

async fn accept_loop(listener: tokio::net::TcpListener, shared: Arc<Shared>) -> io::Result<()> {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            // Out of file descriptors or a connection reset before accept: not fatal.
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| {
                let shared = shared.clone();
                async move { Ok::<_, Infallible>(handle(&shared, peer, req).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .keep_alive(true)
                .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                .await;
        });
    }
}

pub(crate) fn full(status: StatusCode, ctype: &str, body: impl Into<Bytes>) -> Response<Body> {
    let body: Bytes = body.into();
    let mut r = Response::new(Full::new(body).map_err(|n: Infallible| match n {}).boxed());
    *r.status_mut() = status;
    if let Ok(v) = HeaderValue::from_str(ctype) {
        r.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    r
}

pub(crate) fn text(status: StatusCode, msg: &str) -> Response<Body> {
    full(
        status,
        "text/plain; charset=utf-8",
        format!("wraith serve: {msg}\n"),
    )
}

fn refused(r: Refused) -> Response<Body> {
    text(StatusCode::FORBIDDEN, r.0)
}

/// `host:port` the client used to reach us (its Host header), else the configured one.
fn authority(shared: &Shared, req: &Request<Incoming>) -> String {
    let ok = |h: &str| {
        !h.is_empty()
            && h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".:-[]".contains(&b))
    };
    match req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
    {
        Some(h) if ok(h) => h.to_string(),
        _ => shared
            .base
            .split_once("://")
            .map(|(_, a)| a.to_string())
            .unwrap_or_default(),
    }
}

async fn handle(shared: &Arc<Shared>, peer: SocketAddr, req: Request<Incoming>) -> Response<Body> {
    let ip = canonical_ip(peer.ip());
    let mut resp = route(shared, ip, req).await;
    resp.headers_mut().insert(
        header::SERVER,
        HeaderValue::from_static(concat!("wraith-serve/", env!("CARGO_PKG_VERSION"))),
    );
    let s = resp.status().as_u16();
    if matches!(s, 403 | 413 | 500 | 507) {
        shared.room.error(ip, &format!("answered HTTP {s}"));
    }
    resp
}

/// An IPv4 client on a dual-stack socket shows as ::ffff:a.b.c.d; the room shows a.b.c.d.
fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

async fn route(shared: &Arc<Shared>, ip: IpAddr, req: Request<Incoming>) -> Response<Body> {
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let (segs, trailing) = match paths::segments(&path) {
        Ok(x) => x,
        Err(r) => return refused(r),
    };
    let method = req.method().clone();
    let first = segs.first().map(String::as_str);
    match first {
        None if is_read(&method) => {
            let base = format!("http://{}", authority(shared, &req));
            head_only(
                &method,
                full(
                    StatusCode::OK,
                    "text/html; charset=utf-8",
                    index_page(shared, &base),
                ),
            )
        }
        Some("repo") => {
            let rel = &segs[1..];
            if shared.jobs_inside && rel.first().map(String::as_str) == Some("jobs") {
                return text(StatusCode::NOT_FOUND, "not found");
            }
            if rel.is_empty() && !trailing && is_read(&method) {
                let mut r = text(StatusCode::MOVED_PERMANENTLY, "the repository is at /repo/");
                r.headers_mut()
                    .insert(header::LOCATION, HeaderValue::from_static("/repo/"));
                return r;
            }
            repo_request(shared, ip, req, rel, trailing).await
        }
        Some("boot") if is_read(&method) => {
            boot_request(shared, ip, &req, &segs[1..], &query).await
        }
        Some("jobs") if is_read(&method) => job_request(shared, ip, &req, &segs[1..]),
        Some("room") if segs.len() == 1 && is_read(&method) => {
            let rows = shared.room.rows();
            head_only(
                &method,
                full(
                    StatusCode::OK,
                    "application/json",
                    serde_json::to_vec(&rows).unwrap_or_default(),
                ),
            )
        }
        Some("room") if segs.len() == 2 && segs[1] == "progress" && method == Method::POST => {
            match small_body(req).await {
                Ok(b) => match serde_json::from_slice::<Progress>(&b) {
                    Ok(p) => {
                        shared.room.progress(ip, &p);
                        text(StatusCode::OK, "noted")
                    }
                    Err(e) => text(
                        StatusCode::BAD_REQUEST,
                        &format!("not a progress report: {e}"),
                    ),
                },
                Err(r) => r,
            }
        }
        _ if is_read(&method) => text(StatusCode::NOT_FOUND, "not found"),
        _ => text(
            StatusCode::METHOD_NOT_ALLOWED,
            "only the repository (/repo/) takes other methods than GET and HEAD",
        ),
    }
}

fn is_read(m: &Method) -> bool {
    m == Method::GET || m == Method::HEAD
}

/// A HEAD answer is the GET answer without its body (the Content-Length stays).
fn head_only(m: &Method, mut r: Response<Body>) -> Response<Body> {
    if m == Method::HEAD {
        use http_body::Body as _;
        let len = r.body().size_hint().exact();
        *r.body_mut() = Full::new(Bytes::new())
            .map_err(|n: Infallible| match n {})
            .boxed();
        if let (Some(len), false) = (len, r.headers().contains_key(header::CONTENT_LENGTH)) {
            r.headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
        }
    }
    r
}

pub(crate) async fn small_body(req: Request<Incoming>) -> Result<Bytes, Response<Body>> {
    match Limited::new(req.into_body(), SMALL_BODY).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(_) => Err(text(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request body too large",
        )),
    }
}

async fn repo_request(
    shared: &Arc<Shared>,
    ip: IpAddr,
    req: Request<Incoming>,
    rel: &[String],
    trailing: bool,
) -> Response<Body> {
    let method = req.method().clone();
    match method.as_str() {
        "GET" | "HEAD" => {
            let found = match paths::resolve(&shared.repo, rel) {
                Ok(Some(p)) => p,
                Ok(None) => return text(StatusCode::NOT_FOUND, "not found"),
                Err(r) => return refused(r),
            };
            if matches!(
                rel.first().map(String::as_str),
                Some("packs" | "images" | "index")
            ) {
                shared.room.saw(
                    None,
                    Some(ip),
                    State::Reading,
                    &format!("reading {}", rel.join("/")),
                );
            }
            if found.is_dir() {
                if !trailing {
                    let mut r = text(StatusCode::MOVED_PERMANENTLY, "a directory");
                    let loc = format!("{}/", req.uri().path());
                    if let Ok(v) = HeaderValue::from_str(&loc) {
                        r.headers_mut().insert(header::LOCATION, v);
                    }
                    return r;
                }
                let shared2 = shared.clone();
                let uri = req.uri().path().to_string();
                let page =
                    tokio::task::spawn_blocking(move || html_index(&shared2.repo, &found, &uri))
                        .await
                        .unwrap_or_else(|e| Err(io::Error::other(e.to_string())));
                return match page {
                    Ok(p) => {
                        head_only(&method, full(StatusCode::OK, "text/html; charset=utf-8", p))
                    }
                    Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, &format!("listing: {e}")),
                };
            }
            send_file(shared, ip, &req, found).await
        }
        "PROPFIND" => {
            let depth = req
                .headers()
                .get("depth")
                .and_then(|d| d.to_str().ok())
                .unwrap_or("infinity")
                .to_string();
            let depth = match depth.as_str() {
                "0" => 0,
                "1" => 1,
                _ => {
                    return text(
                        StatusCode::FORBIDDEN,
                        "PROPFIND with Depth: infinity is not served; ask with Depth: 0 or 1",
                    )
                }
            };
            let uri = req.uri().path().to_string();
            if let Err(r) = small_body(req).await {
                return r;
            }
            let found = match paths::resolve(&shared.repo, rel) {
                Ok(Some(p)) => p,
                Ok(None) => return text(StatusCode::NOT_FOUND, "not found"),
                Err(r) => return refused(r),
            };
            let shared2 = shared.clone();
            let xml = tokio::task::spawn_blocking(move || {
                crate::listing::propfind(&shared2.repo, &found, &uri, depth, shared2.jobs_inside)
            })
            .await
            .unwrap_or_else(|e| Err(io::Error::other(e.to_string())));
            match xml {
                Ok(x) => full(
                    StatusCode::MULTI_STATUS,
                    "application/xml; charset=utf-8",
                    x,
                ),
                Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, &format!("listing: {e}")),
            }
        }
        "OPTIONS" => {
            let mut r = text(StatusCode::OK, "options");
            r.headers_mut().insert(
                header::ALLOW,
                HeaderValue::from_static("GET, HEAD, OPTIONS, PROPFIND, PUT, MOVE, MKCOL, DELETE"),
            );
            r.headers_mut().insert("dav", HeaderValue::from_static("1"));
            r
        }
        "PUT" | "MOVE" | "MKCOL" | "DELETE" => writes::handle(shared, ip, req, rel).await,
        _ => {
            let mut r = text(
                StatusCode::METHOD_NOT_ALLOWED,
                &format!("{method} is not served; the repository is read-only but for job results"),
            );
            r.headers_mut().insert(
                header::ALLOW,
                HeaderValue::from_static("GET, HEAD, OPTIONS, PROPFIND, PUT, MOVE, MKCOL, DELETE"),
            );
            r
        }
    }
}

async fn boot_request(
    shared: &Arc<Shared>,
    ip: IpAddr,
    req: &Request<Incoming>,
    rel: &[String],
    query: &str,
) -> Response<Body> {
    let base = format!("http://{}", authority(shared, req));
    let Some(name) = rel.first().filter(|_| rel.len() == 1) else {
        return text(StatusCode::NOT_FOUND, "not found");
    };
    if name == "wraith.ipxe" {
        if shared.boot.is_none() {
            return text(
                StatusCode::NOT_FOUND,
                "this server has no boot files (start it with --boot-dir DIR holding vmlinuz and initramfs.zst)",
            );
        }
        let mac = query
            .split('&')
            .find_map(|kv| kv.strip_prefix("mac="))
            .and_then(|m| paths::decode(m).and_then(|b| String::from_utf8(b).ok()))
            .and_then(|m| jobs::normalise_mac(&m));
        let script = match &mac {
            None => boot::chain_script(&base),
            Some(m) => {
                let job = shared
                    .jobs
                    .as_ref()
                    .and_then(|d| jobs::find(d, m))
                    .is_some();
                shared.room.saw(
                    Some(m),
                    Some(ip),
                    State::Ipxe,
                    if job {
                        "iPXE script, with a job"
                    } else {
                        "iPXE script, no job"
                    },
                );
                boot::machine_script(&base, Some(m), job, &shared.kernel_args)
            }
        };
        return head_only(
            req.method(),
            full(StatusCode::OK, "text/plain; charset=utf-8", script),
        );
    }
    let Some(path) = shared.boot.as_ref().and_then(|b| b.file(name)) else {
        return text(StatusCode::NOT_FOUND, "not found");
    };
    shared
        .room
        .saw(None, Some(ip), State::Booting, &format!("fetching {name}"));
    send_file(shared, ip, req, path).await
}

fn job_request(
    shared: &Arc<Shared>,
    ip: IpAddr,
    req: &Request<Incoming>,
    rel: &[String],
) -> Response<Body> {
    let mac = match rel {
        [one] => one.strip_suffix(".toml").and_then(jobs::normalise_mac),
        _ => None,
    };
    let Some(mac) = mac else {
        return text(
            StatusCode::NOT_FOUND,
            "jobs are asked for as /jobs/<MAC>.toml (52-54-00-12-34-56 or 52:54:00:12:34:56)",
        );
    };
    let found = shared.jobs.as_ref().and_then(|d| jobs::find(d, &mac));
    let Some(found) = found else {
        shared
            .room
            .saw(Some(&mac), Some(ip), State::Job, "no job file for it");
        return text(
            StatusCode::NOT_FOUND,
            &format!("no job for {mac}: neither a file named after it nor default.toml"),
        );
    };
    match std::fs::read_to_string(found.path()) {
        Ok(t) => {
            let which = match &found {
                jobs::Found::Machine(p) | jobs::Found::Default(p) => p
                    .file_name()
                    .map(|n| n.to_string_lossy().to_string())
                    .unwrap_or_default(),
            };
            shared
                .room
                .saw(Some(&mac), Some(ip), State::Job, &format!("job {which}"));
            let body = jobs::substitute(&t, &authority(shared, req));
            let mut r = head_only(req.method(), full(StatusCode::OK, "application/toml", body));
            // The job runner reports its progress here (see `progress_url`).
            if let Ok(v) =
                HeaderValue::from_str(&format!("http://{}/room/progress", authority(shared, req)))
            {
                r.headers_mut().insert(crate::PROGRESS_HEADER, v);
            }
            r
        }
        Err(e) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("reading {}: {e}", found.path().display()),
        ),
    }
}

fn etag(md: &std::fs::Metadata) -> String {
    let m = md
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("\"{m:x}-{:x}\"", md.len())
}

/// A `Range` header's single range over a file of `len` bytes. `None`: serve it whole
/// (no header, several ranges, or a syntax we do not know, as RFC 9110 allows);
/// `Some(Err(()))`: unsatisfiable (416).
fn range(h: Option<&str>, len: u64) -> Option<Result<(u64, u64), ()>> {
    let spec = h?.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (a, b) = (a.trim(), b.trim());
    if a.is_empty() {
        let n: u64 = b.parse().ok()?;
        if n == 0 || len == 0 {
            return Some(Err(()));
        }
        return Some(Ok((len.saturating_sub(n), len - 1)));
    }
    let start: u64 = a.parse().ok()?;
    let end: u64 = if b.is_empty() {
        u64::MAX
    } else {
        b.parse().ok()?
    };
    if end < start {
        return None;
    }
    if start >= len {
        return Some(Err(()));
    }
    Some(Ok((start, end.min(len - 1))))
}

async fn send_file(
    shared: &Arc<Shared>,
    ip: IpAddr,
    req: &Request<Incoming>,
    path: PathBuf,
) -> Response<Body> {
    let p2 = path.clone();
    let opened = tokio::task::spawn_blocking(move || {
        let f = File::open(&p2)?;
        let md = f.metadata()?;
        Ok::<_, io::Error>((f, md))
    })
    .await
    .unwrap_or_else(|e| Err(io::Error::other(e.to_string())));
    let (file, md) = match opened {
        Ok(x) => x,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return text(StatusCode::NOT_FOUND, "not found")
        }
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            return text(StatusCode::FORBIDDEN, "this file may not be read")
        }
        Err(e) => {
            return text(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("{}: {e}", path.display()),
            )
        }
    };
    if !md.is_file() {
        return text(StatusCode::FORBIDDEN, "not a regular file");
    }
    let len = md.len();
    let tag = etag(&md);
    let modified = md.modified().unwrap_or(SystemTime::UNIX_EPOCH);
    let hdr = |n: header::HeaderName| req.headers().get(n).and_then(|v| v.to_str().ok());
    if hdr(header::IF_NONE_MATCH)
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag || t.trim() == "*"))
    {
        let mut r = full(
            StatusCode::NOT_MODIFIED,
            "application/octet-stream",
            Bytes::new(),
        );
        r.headers_mut().insert(
            header::ETAG,
            HeaderValue::from_str(&tag).unwrap_or(HeaderValue::from_static("\"\"")),
        );
        return r;
    }
    // If-Range: the range only if the file is still the one the client saw.
    let range_ok = match hdr(header::IF_RANGE) {
        None => true,
        Some(v) if v.starts_with('"') || v.starts_with("W/") => v == tag,
        Some(v) => httpdate::parse_http_date(v).ok().is_some_and(|d| {
            modified
                .duration_since(UNIX_EPOCH)
                .map(|m| m.as_secs())
                .unwrap_or(0)
                <= d.duration_since(UNIX_EPOCH)
                    .map(|m| m.as_secs())
                    .unwrap_or(0)
        }),
    };
    let wanted = if range_ok {
        range(hdr(header::RANGE), len)
    } else {
        None
    };
    let (status, start, end) = match wanted {
        None => (StatusCode::OK, 0, len),
        Some(Ok((a, b))) => (StatusCode::PARTIAL_CONTENT, a, b + 1),
        Some(Err(())) => {
            let mut r = text(
                StatusCode::RANGE_NOT_SATISFIABLE,
                &format!("the file has {len} bytes"),
            );
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                r.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return r;
        }
    };
    let count = end - start;
    let head = req.method() == Method::HEAD;
    let body: Body = if head || count == 0 {
        Full::new(Bytes::new())
            .map_err(|n: Infallible| match n {})
            .boxed()
    } else if count as usize <= PIECE {
        let room = shared.room.clone();
        let read = tokio::task::spawn_blocking(move || {
            let mut buf = vec![0u8; count as usize];
            file.read_exact_at(&mut buf, start)?;
            Ok::<_, io::Error>(buf)
        })
        .await
        .unwrap_or_else(|e| Err(io::Error::other(e.to_string())));
        match read {
            Ok(b) => {
                room.sent(ip, count);
                Full::new(Bytes::from(b))
                    .map_err(|n: Infallible| match n {})
                    .boxed()
            }
            Err(e) => {
                return text(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &format!("{}: {e}", path.display()),
                )
            }
        }
    } else {
        stream(file, start, count, shared.room.clone(), ip)
    };
    let mut r = Response::new(body);
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(count));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(&path)),
    );
    if let Ok(v) = HeaderValue::from_str(&tag) {
        h.insert(header::ETAG, v);
    }
    if let Ok(v) = HeaderValue::from_str(&httpdate::fmt_http_date(modified)) {
        h.insert(header::LAST_MODIFIED, v);
    }
    if status == StatusCode::PARTIAL_CONTENT {
        if let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{}/{len}", end - 1)) {
            h.insert(header::CONTENT_RANGE, v);
        }
    }
    r
}

fn content_type(p: &Path) -> &'static str {
    match p.extension().and_then(|e| e.to_str()) {
        Some("json") => "application/json",
        Some("log" | "txt") => "text/plain; charset=utf-8",
        Some("toml") => "application/toml",
        Some("ipxe") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// A body fed by a blocking reader through a bounded channel.
struct FileBody {
    rx: tokio::sync::mpsc::Receiver<io::Result<Bytes>>,
    left: u64,
}

impl http_body::Body for FileBody {
    type Data = Bytes;
    type Error = io::Error;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some(Ok(b))) => {
                self.left = self.left.saturating_sub(b.len() as u64);
                Poll::Ready(Some(Ok(Frame::data(b))))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.left)
    }
    fn is_end_stream(&self) -> bool {
        self.left == 0
    }
}

fn stream(file: File, start: u64, count: u64, room: Room, ip: IpAddr) -> Body {
    let (tx, rx) = tokio::sync::mpsc::channel(QUEUED);
    tokio::task::spawn_blocking(move || {
        let mut at = start;
        let end = start + count;
        while at < end {
            let n = PIECE.min((end - at) as usize);
            let mut buf = vec![0u8; n];
            let r = file.read_exact_at(&mut buf, at).map(|_| Bytes::from(buf));
            let failed = r.is_err();
            // The client went away: stop reading.
            if tx.blocking_send(r).is_err() || failed {
                return;
            }
            room.sent(ip, n as u64);
            at += n as u64;
        }
    });
    FileBody { rx, left: count }.boxed()
}

/// An HTML index of a directory of the repository, as web servers' autoindex pages are.
fn html_index(root: &Path, dir: &Path, uri: &str) -> io::Result<String> {
    let entries = crate::listing::entries(root, dir, false)?;
    let esc = crate::listing::escape;
    let mut s = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Index of {0}</title></head>\n\
         <body><h1>Index of {0}</h1><hr><pre>\n<a href=\"../\">../</a>\n",
        esc(uri)
    );
    for e in entries {
        let slash = if e.dir { "/" } else { "" };
        s.push_str(&format!(
            "<a href=\"{}{slash}\">{}{slash}</a> {}\n",
            paths::encode(&e.name),
            esc(&e.name),
            if e.dir {
                "-".to_string()
            } else {
                e.len.to_string()
            }
        ));
    }
    s.push_str("</pre><hr></body></html>\n");
    Ok(s)
}

fn index_page(shared: &Shared, base: &str) -> String {
    let esc = crate::listing::escape;
    let mut s = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>wraith serve</title></head><body>\n\
         <h1>wraith serve</h1>\n<ul>\n<li>Repository: <a href=\"/repo/\">{base}/repo</a> \
         (for example <code>wraith restore {base}/repo:NAME /dev/sdX</code>)</li>\n",
        base = esc(base)
    );
    if shared.boot.is_some() {
        s.push_str(&format!(
            "<li>Network boot: <code>chain {}/boot/wraith.ipxe</code></li>\n",
            esc(base)
        ));
    }
    if let Some(j) = &shared.jobs {
        let (macs, default) = jobs::inventory(j);
        s.push_str(&format!(
            "<li>Jobs: {} machine files{}</li>\n",
            macs.len(),
            if default { " and default.toml" } else { "" }
        ));
    }
    s.push_str("<li>Room: <a href=\"/room\">/room</a> (JSON)</li>\n</ul></body></html>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_rfc_9110() {
        assert_eq!(range(Some("bytes=0-9"), 100), Some(Ok((0, 9))));
        assert_eq!(range(Some("bytes=90-"), 100), Some(Ok((90, 99))));
        assert_eq!(range(Some("bytes=-10"), 100), Some(Ok((90, 99))));
        assert_eq!(range(Some("bytes=95-200"), 100), Some(Ok((95, 99))));
        assert_eq!(range(Some("bytes=100-"), 100), Some(Err(())));
        assert_eq!(range(Some("bytes=-0"), 100), Some(Err(())));
        assert_eq!(range(Some("bytes=0-1,5-6"), 100), None);
        assert_eq!(range(Some("items=0-1"), 100), None);
        assert_eq!(range(Some("bytes=9-1"), 100), None);
        assert_eq!(range(None, 100), None);
    }
}
