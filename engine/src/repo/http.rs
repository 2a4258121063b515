//! A repository on a web server: any static server for reading (restore, list, verify), and
//! WebDAV for writing (save). Reads use `Range` requests so a restore fetches only the chunks
//! it needs; directories are listed with WebDAV `PROPFIND`, or from the server's HTML index
//! (nginx autoindex, Apache, python's http.server) when it speaks no WebDAV.
//!
//! Writes keep the repository's rule that a file appears complete or not at all: the bytes go
//! to `tmp/` with `PUT`, then `MOVE` with `Overwrite: F` puts them in place, so a file is never
//! replaced and an interrupted upload leaves only a stray temporary file.
//!
//! Transient failures (no connection, timeouts, 5xx, 429) are retried with exponential backoff
//! within a bounded time; answers that will not change (401, 403, 404, 507) are not. Every
//! error names the location and the likely fix.

use super::listing;
use super::location::Credentials;
use super::store::Store;
use crate::error::{Error, NetCause, Result};
use crate::events::Notices;
use reqwest::blocking::{Client, RequestBuilder, Response};
use reqwest::{Method, StatusCode};
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long transient failures are retried before a request gives up, unless
/// `WRAITH_NET_RETRY_SECS` says otherwise (tests use a few seconds).
const DEFAULT_RETRY: Duration = Duration::from_secs(90);
const MAX_BACKOFF: Duration = Duration::from_secs(8);
/// Requests a restore or verify keeps in flight: enough to fill a link with round trips of a
/// few milliseconds, few enough to keep memory bounded (each holds at most one chunk or pack).
const PARALLEL_READS: usize = 8;

/// Which listing the server answers, learned on first use.
const LIST_UNKNOWN: u8 = 0;
const LIST_DAV: u8 = 1;
const LIST_HTML: u8 = 2;

pub struct HttpStore {
    client: Client,
    /// `http://host:port/path` with the path percent-encoded, no trailing '/'.
    base: String,
    /// The same for people: no password (there never is one in it), decoded.
    shown: String,
    user: Option<String>,
    password: Option<String>,
    retry: Duration,
    list_mode: AtomicU8,
    made_dirs: Mutex<HashSet<String>>,
    tmp_seq: AtomicU64,
    tmp_tag: String,
    /// Told as retries start and end, to the job listening (see [`Store::notices`]).
    notices: Notices,
}

impl HttpStore {
    /// `shown` is the location as printed; the server's name is resolved now so that a typo
    /// is reported as such rather than as a network failure later.
    pub fn new(
        tls: bool,
        host: &str,
        port: Option<u16>,
        path: &str,
        shown: &str,
        creds: &Credentials,
    ) -> Result<HttpStore> {
        let port_n = port.unwrap_or(if tls { 443 } else { 80 });
        super::net::resolve(host, port_n, shown)?;
        let client = Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(None)
            .pool_max_idle_per_host(PARALLEL_READS * 2)
            .user_agent(concat!("wraith/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::network(shown, format!("cannot set up HTTP: {e}")))?;
        let host_part = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.to_string()
        };
        let base = format!(
            "{}://{host_part}{}{}",
            if tls { "https" } else { "http" },
            port.map(|p| format!(":{p}")).unwrap_or_default(),
            path.split('/')
                .filter(|s| !s.is_empty())
                .map(|s| format!("/{}", encode_segment(s)))
                .collect::<String>()
        );
        let retry = std::env::var("WRAITH_NET_RETRY_SECS")
            .ok()
            .and_then(|s| s.parse::<f64>().ok())
            .map(Duration::from_secs_f64)
            .unwrap_or(DEFAULT_RETRY);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let tag = blake3::hash(format!("{now}-{}", std::process::id()).as_bytes()).to_hex();
        Ok(HttpStore {
            client,
            base,
            shown: shown.to_string(),
            user: creds.user.clone(),
            password: creds.password.as_ref().map(|p| p.expose().to_string()),
            retry,
            list_mode: AtomicU8::new(LIST_UNKNOWN),
            made_dirs: Mutex::new(HashSet::new()),
            tmp_seq: AtomicU64::new(0),
            tmp_tag: tag[..12].to_string(),
            notices: Notices::default(),
        })
    }

    fn url(&self, rel: &str) -> String {
        if rel.is_empty() {
            format!("{}/", self.base)
        } else {
            format!("{}/{rel}", self.base)
        }
    }

    fn where_(&self, rel: &str) -> String {
        if rel.is_empty() {
            self.shown.clone()
        } else {
            format!("{}/{rel}", self.shown)
        }
    }

    fn request(&self, method: Method, url: &str, timeout: Duration) -> RequestBuilder {
        let rb = self.client.request(method, url).timeout(timeout);
        match &self.user {
            Some(u) => rb.basic_auth(u, self.password.as_deref()),
            None => rb,
        }
    }

    /// Sends a request, retrying transient failures with backoff until the retry time is
    /// spent. Returns the first non-transient answer, whatever its status.
    fn send(&self, rel: &str, build: impl Fn() -> RequestBuilder) -> Result<Response> {
        let start = Instant::now();
        let mut delay = Duration::from_millis(250);
        let mut internal_errors = 0;
        let mut retried = false;
        loop {
            // Whether this try got no answer at all (rather than an unwanted one).
            let mut unreachable = false;
            let failure = match build().send() {
                Ok(resp) if !transient_status(resp.status()) => {
                    if retried {
                        self.notice(format!(
                            "{}: the server answers again, after {:.0} s of retries",
                            self.where_(rel),
                            start.elapsed().as_secs_f64()
                        ));
                    }
                    return Ok(resp);
                }
                // A 500 is seldom transient (nginx says it for a full disk): tried a few
                // times, then reported as the answer it is.
                Ok(resp) if resp.status() == StatusCode::INTERNAL_SERVER_ERROR => {
                    internal_errors += 1;
                    if internal_errors >= 3 {
                        return Ok(resp);
                    }
                    format!("the server answered {}", resp.status())
                }
                Ok(resp) => format!("the server answered {}", resp.status()),
                Err(e) => {
                    unreachable = true;
                    describe_transport(&e, &self.shown)
                }
            };
            if start.elapsed() + delay > self.retry {
                let cause = if unreachable {
                    NetCause::Unreachable
                } else {
                    NetCause::Other
                };
                return Err(Error::network_because(
                    cause,
                    self.where_(rel),
                    format!(
                        "{failure} (gave up after {:.0} s of retries; once the server is back, \
                         run it again: what was stored is kept and reused)",
                        start.elapsed().as_secs_f64()
                    ),
                ));
            }
            if !retried {
                // Told once per request, as the retrying starts: the job looks stalled
                // otherwise, and the technician can check the cable or the server meanwhile.
                retried = true;
                self.notice(format!(
                    "{}: {failure}; retrying for up to {:.0} s",
                    self.where_(rel),
                    self.retry.as_secs_f64()
                ));
            }
            std::thread::sleep(delay);
            delay = (delay * 2).min(MAX_BACKOFF);
        }
    }

    fn notice(&self, text: String) {
        self.notices.tell(text);
    }

    /// An error for an answer that is final and not what the operation wanted.
    fn status_error(&self, rel: &str, op: &str, status: StatusCode) -> Error {
        let at = self.where_(rel);
        let detail = match status.as_u16() {
            401 if self.user.is_none() => {
                return Error::network_because(
                    NetCause::Denied,
                    at,
                    "the server wants a user name and password (HTTP 401): write the user in \
                     the URL (http://USER@host/path) and give the password",
                )
            }
            401 => {
                return Error::network_because(
                    NetCause::Denied,
                    at,
                    "wrong user name or password (HTTP 401): check the user in the URL and the \
                     password",
                )
            }
            403 => format!(
                "permission denied (HTTP 403) for {op}: the server does not allow this user \
                 there; check the server's access rules"
            ),
            404 => return Error::NotFound { what: at },
            405 | 501 if op != "reading" => format!(
                "the server refuses {op} here (HTTP {}): this location is read-only; to \
                 save, use a WebDAV location (nginx: `dav_methods PUT DELETE MKCOL COPY MOVE;`)",
                status.as_u16()
            ),
            413 => "the server refused an upload as too large (HTTP 413): raise its body size \
                    limit (nginx: `client_max_body_size 0;`)"
                .to_string(),
            500 if op.starts_with("writing") || op.starts_with("creating") => format!(
                "the server failed {op} (HTTP 500 Internal Server Error): its disk is probably \
                 full, or it may not write there; free space on the server or check its error \
                 log. Images saved before are intact"
            ),
            507 => "the share is full (HTTP 507 Insufficient Storage): free space on the server \
                    or save elsewhere; images saved before are intact"
                .to_string(),
            _ => format!("HTTP {status} for {op}"),
        };
        Error::network(at, detail)
    }

    fn transfer_timeout(len: usize) -> Duration {
        Duration::from_secs(60) + Duration::from_secs(len as u64 / (256 << 10))
    }

    /// Creates a directory and whatever parents are missing (MKCOL, walking up on 409).
    fn make_dir(&self, rel: &str) -> Result<()> {
        if rel.is_empty() {
            return self.make_base();
        }
        if self.known_dir(rel) {
            return Ok(());
        }
        let status = self.mkcol(&format!("{}/{rel}/", self.base), rel)?;
        match status.as_u16() {
            // 405: it exists (a read-only server says the same, and the write that follows
            // reports that clearly).
            200 | 201 | 204 | 405 => {}
            409 => {
                let parent = rel.rsplit_once('/').map(|(p, _)| p).unwrap_or("");
                self.make_dir(parent)?;
                let again = self.mkcol(&format!("{}/{rel}/", self.base), rel)?;
                if !matches!(again.as_u16(), 200 | 201 | 204 | 405) {
                    return Err(self.status_error(rel, "creating directories (MKCOL)", again));
                }
            }
            _ => return Err(self.status_error(rel, "creating directories (MKCOL)", status)),
        }
        self.made_dirs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(rel.to_string());
        Ok(())
    }

    fn known_dir(&self, rel: &str) -> bool {
        self.made_dirs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(rel)
    }

    /// The repository's own directory and its missing parents on the server.
    fn make_base(&self) -> Result<()> {
        if self.known_dir("") {
            return Ok(());
        }
        let path_start = self.base.find("://").map(|i| i + 3).unwrap_or(0);
        let root = match self.base[path_start..].find('/') {
            Some(i) => path_start + i,
            None => self.base.len(),
        };
        let mut ends: Vec<usize> = self.base[root..]
            .match_indices('/')
            .map(|(i, _)| root + i)
            .skip(1)
            .collect();
        ends.push(self.base.len());
        // Top down: each MKCOL of an existing directory is a cheap 405.
        for end in ends.into_iter().filter(|&e| e > root) {
            let status = self.mkcol(&format!("{}/", &self.base[..end]), "")?;
            if !matches!(status.as_u16(), 200 | 201 | 204 | 405 | 403) {
                return Err(self.status_error("", "creating the repository (MKCOL)", status));
            }
        }
        self.made_dirs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(String::new());
        Ok(())
    }

    fn mkcol(&self, url: &str, rel: &str) -> Result<StatusCode> {
        let m = method("MKCOL");
        Ok(self
            .send(rel, || {
                self.request(m.clone(), url, Duration::from_secs(30))
            })?
            .status())
    }

    fn list_dav(&self, dir: &str) -> Result<Option<Vec<String>>> {
        let url = self.url(&dir_path(dir));
        let body = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\
                    <propfind xmlns=\"DAV:\"><prop><resourcetype/></prop></propfind>";
        let resp = self.send(dir, || {
            self.request(method("PROPFIND"), &url, Duration::from_secs(60))
                .header("Depth", "1")
                .header("Content-Type", "application/xml")
                .body(body)
        })?;
        match resp.status().as_u16() {
            207 => {
                let text = resp
                    .text()
                    .map_err(|e| Error::network(self.where_(dir), format!("listing: {e}")))?;
                let hrefs = listing::propfind::hrefs(&text).map_err(|e| {
                    Error::network(self.where_(dir), format!("listing (PROPFIND answer): {e}"))
                })?;
                Ok(Some(listing::names_from_hrefs(&url, &hrefs)))
            }
            404 => Ok(Some(Vec::new())),
            // No WebDAV here: the caller tries the HTML index.
            400 | 403 | 405 | 501 => Ok(None),
            _ => Err(self.status_error(dir, "listing (PROPFIND)", resp.status())),
        }
    }

    fn list_html(&self, dir: &str) -> Result<Vec<String>> {
        let url = self.url(&dir_path(dir));
        let resp = self.send(dir, || {
            self.request(Method::GET, &url, Duration::from_secs(60))
        })?;
        let status = resp.status();
        let html = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("html"));
        match status.as_u16() {
            404 => Ok(Vec::new()),
            200 if html => {
                let text = resp
                    .text()
                    .map_err(|e| Error::network(self.where_(dir), format!("listing: {e}")))?;
                Ok(listing::names_from_hrefs(
                    &url,
                    &listing::html::hrefs(&text),
                ))
            }
            200 | 403 => Err(Error::network(
                self.where_(dir),
                format!(
                    "cannot list this directory: the server answers neither WebDAV PROPFIND nor \
                     with a directory index (HTTP {status}); enable autoindex (nginx: \
                     `autoindex on;`) or WebDAV"
                ),
            )),
            _ => Err(self.status_error(dir, "listing", status)),
        }
    }

    fn body(&self, rel: &str, resp: Response) -> Result<Vec<u8>> {
        resp.bytes().map(|b| b.to_vec()).map_err(|e| {
            Error::network(
                self.where_(rel),
                format!(
                    "the transfer broke off: {}",
                    describe_transport(&e, &self.shown)
                ),
            )
        })
    }

    /// GET with retries that also cover a body cut off half-way.
    fn get(&self, rel: &str, range: Option<(u64, usize)>) -> Result<(StatusCode, Vec<u8>)> {
        let url = self.url(rel);
        let timeout = Self::transfer_timeout(range.map_or(32 << 20, |r| r.1));
        let start = Instant::now();
        loop {
            let resp = self.send(rel, || {
                let rb = self.request(Method::GET, &url, timeout);
                match range {
                    Some((o, l)) => {
                        rb.header("Range", format!("bytes={o}-{}", o + (l as u64).max(1) - 1))
                    }
                    None => rb,
                }
            })?;
            let status = resp.status();
            if !status.is_success() {
                return Ok((status, Vec::new()));
            }
            match self.body(rel, resp) {
                Ok(b) => return Ok((status, b)),
                // A body cut off half-way: fetch it again while the retry time lasts.
                Err(_) if start.elapsed() < self.retry => {
                    std::thread::sleep(Duration::from_millis(500));
                }
                Err(e) => return Err(e),
            }
        }
    }
}

impl Store for HttpStore {
    fn location(&self) -> String {
        self.shown.clone()
    }
    fn notices(&self) -> Option<&Notices> {
        Some(&self.notices)
    }

    fn read(&self, path: &str) -> Result<Vec<u8>> {
        match self.get(path, None)? {
            (s, b) if s.is_success() => Ok(b),
            (s, _) => Err(self.status_error(path, "reading", s)),
        }
    }

    fn read_at(&self, path: &str, offset: u64, len: usize) -> Result<Vec<u8>> {
        if len == 0 {
            return Ok(Vec::new());
        }
        let truncated = || {
            Error::corrupt(
                self.where_(path),
                offset,
                format!("{len} bytes wanted at offset {offset}, the file is shorter (truncated?)"),
            )
        };
        let (status, body) = self.get(path, Some((offset, len)))?;
        match status.as_u16() {
            206 if body.len() == len => Ok(body),
            206 => Err(truncated()),
            // A server that ignores ranges sends the whole file.
            200 => {
                let start = usize::try_from(offset).map_err(|_| truncated())?;
                body.get(start..start + len)
                    .map(<[u8]>::to_vec)
                    .ok_or_else(truncated)
            }
            416 => Err(truncated()),
            _ => Err(self.status_error(path, "reading", status)),
        }
    }

    fn size(&self, path: &str) -> Result<u64> {
        let url = self.url(path);
        let resp = self.send(path, || {
            self.request(Method::HEAD, &url, Duration::from_secs(30))
        })?;
        if !resp.status().is_success() {
            return Err(self.status_error(path, "reading", resp.status()));
        }
        resp.headers()
            .get(reqwest::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| {
                Error::network(
                    self.where_(path),
                    "the server does not tell file sizes (no Content-Length)",
                )
            })
    }

    fn exists(&self, path: &str) -> Result<bool> {
        let url = self.url(path);
        let resp = self.send(path, || {
            self.request(Method::HEAD, &url, Duration::from_secs(30))
        })?;
        match resp.status().as_u16() {
            200..=299 => Ok(true),
            404 | 410 => Ok(false),
            _ => Err(self.status_error(path, "reading", resp.status())),
        }
    }

    fn list(&self, dir: &str) -> Result<Vec<String>> {
        let mode = self.list_mode.load(Ordering::Relaxed);
        if mode != LIST_HTML {
            if let Some(names) = self.list_dav(dir)? {
                self.list_mode.store(LIST_DAV, Ordering::Relaxed);
                return Ok(names);
            }
        }
        let names = self.list_html(dir)?;
        self.list_mode.store(LIST_HTML, Ordering::Relaxed);
        Ok(names)
    }

    fn put_new(&self, path: &str, data: &[u8]) -> Result<bool> {
        if self.exists(path)? {
            return Ok(false);
        }
        self.make_dir("tmp")?;
        if let Some((parent, _)) = path.rsplit_once('/') {
            self.make_dir(parent)?;
        } else {
            self.make_dir("")?;
        }
        let tmp = format!(
            "tmp/{}-{}-{}.tmp",
            self.tmp_tag,
            std::process::id(),
            self.tmp_seq.fetch_add(1, Ordering::Relaxed)
        );
        let tmp_url = self.url(&tmp);
        let timeout = Self::transfer_timeout(data.len());
        let put = self.send(path, || {
            self.request(Method::PUT, &tmp_url, timeout)
                .header("Content-Type", "application/octet-stream")
                .body(data.to_vec())
        })?;
        if !put.status().is_success() {
            let _ = self.remove(&tmp);
            return Err(self.status_error(path, "writing files (PUT)", put.status()));
        }
        let dest = self.url(path);
        let moved = self.send(path, || {
            self.request(method("MOVE"), &tmp_url, Duration::from_secs(60))
                .header("Destination", dest.as_str())
                .header("Overwrite", "F")
        });
        match moved.map(|r| r.status().as_u16()) {
            Ok(201 | 204) => Ok(true),
            // Already there (content-addressed names: the same bytes), perhaps from our own
            // MOVE whose answer was lost and retried.
            Ok(412) => {
                let _ = self.remove(&tmp);
                Ok(false)
            }
            // The temporary file is gone: a retried MOVE that had already succeeded.
            Ok(404) if self.exists(path)? => Ok(true),
            Ok(code) => {
                let _ = self.remove(&tmp);
                Err(self.status_error(
                    path,
                    "moving files into place (MOVE)",
                    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                ))
            }
            Err(e) => {
                let _ = self.remove(&tmp);
                Err(e)
            }
        }
    }

    fn remove(&self, path: &str) -> Result<()> {
        let url = self.url(path);
        let resp = self.send(path, || {
            self.request(Method::DELETE, &url, Duration::from_secs(30))
        })?;
        match resp.status().as_u16() {
            200..=299 => Ok(()),
            _ => Err(self.status_error(path, "deleting files (DELETE)", resp.status())),
        }
    }

    fn remote(&self) -> bool {
        true
    }
    fn parallel_reads(&self) -> usize {
        PARALLEL_READS
    }

    /// Writes and deletes a small file, so a save learns before its work that it may write.
    fn check_writable(&self) -> Result<()> {
        self.make_dir("")?;
        self.make_dir("tmp")?;
        let probe = format!("tmp/{}-probe.tmp", self.tmp_tag);
        let url = self.url(&probe);
        let put = self.send(&probe, || {
            self.request(Method::PUT, &url, Duration::from_secs(30))
                .body(b"wraith write check\n".to_vec())
        })?;
        if !put.status().is_success() {
            return Err(self.status_error("", "writing files (PUT)", put.status()));
        }
        self.remove(&probe)
    }
}

/// Fetches one file by its http(s):// URL (a job file), with the repository's retries and
/// messages. A name that does not resolve yet is retried too: at boot the network may still be
/// coming up.
pub fn fetch(url: &str) -> Result<Vec<u8>> {
    let loc = super::location::Location::parse(url)?;
    let super::location::Location::Http {
        tls,
        host,
        port,
        path,
        ..
    } = &loc
    else {
        return Err(Error::Invalid(format!("{url}: not an http(s):// URL")));
    };
    let (dir, file) = path.rsplit_once('/').unwrap_or(("", path));
    if file.is_empty() {
        return Err(Error::Invalid(format!("{url}: name a file")));
    }
    let full = loc.display();
    let shown = full.strip_suffix(&format!("/{file}")).unwrap_or(&full);
    let start = Instant::now();
    let store = loop {
        match HttpStore::new(*tls, host, *port, dir, shown, &Credentials::none()) {
            Ok(s) => break s,
            Err(_) if start.elapsed() < Duration::from_secs(30) => {
                std::thread::sleep(Duration::from_secs(1));
            }
            Err(e) => return Err(e),
        }
    };
    store.read(file)
}

fn method(name: &str) -> Method {
    Method::from_bytes(name.as_bytes()).unwrap_or(Method::GET)
}

fn dir_path(dir: &str) -> String {
    if dir.is_empty() {
        String::new()
    } else {
        format!("{dir}/")
    }
}

fn transient_status(s: StatusCode) -> bool {
    matches!(s.as_u16(), 408 | 429 | 500 | 502 | 503 | 504)
}

/// What went wrong below HTTP, in words: the io error kind found in the error's chain.
fn describe_transport(e: &reqwest::Error, shown: &str) -> String {
    use std::io::ErrorKind as K;
    let mut src: Option<&dyn std::error::Error> = Some(e);
    while let Some(s) = src {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return match io.kind() {
                K::ConnectionRefused => format!(
                    "connection refused: no server is listening there (is it running, is the port \
                     in {shown} right?)"
                ),
                K::HostUnreachable | K::NetworkUnreachable => {
                    "host unreachable: check the network connection and the address".to_string()
                }
                K::TimedOut => "no answer from the server (timed out)".to_string(),
                K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe | K::UnexpectedEof => {
                    "the connection was cut".to_string()
                }
                _ => format!("network error: {io}"),
            };
        }
        src = s.source();
    }
    if e.is_timeout() {
        "no answer from the server (timed out)".to_string()
    } else if e.is_connect() {
        format!("cannot connect: {e}")
    } else {
        format!("network error: {e}")
    }
}

/// Percent-encodes one path segment (everything but RFC 3986's unreserved characters).
fn encode_segment(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_are_percent_encoded() {
        assert_eq!(encode_segment("my repo#1"), "my%20repo%231");
        assert_eq!(encode_segment("a-b_c.d~"), "a-b_c.d~");
    }
}
