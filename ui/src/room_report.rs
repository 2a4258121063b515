//! A job's progress, told to the `wraith serve` it came from, for the room's table: only when
//! the job file was fetched over plain HTTP and its answer named a progress URL (the
//! `x-wraith-progress` header, which only `wraith serve` sends). Every couple of seconds the
//! step and bytes done, at the end the job's result: small JSON posts, best effort, each with
//! a short timeout, so a server that went away never slows or fails the job.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wraith_engine::events::Event;
use wraith_serve::Progress;

const TIMEOUT: Duration = Duration::from_secs(2);
const EVERY: Duration = Duration::from_secs(2);

/// `http://host:port/path` → (`host:port`, `/path`).
fn split(url: &str) -> Option<(String, String)> {
    let rest = url.strip_prefix("http://")?;
    let (auth, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let auth = if auth.contains(':') {
        auth.to_string()
    } else {
        format!("{auth}:80")
    };
    Some((auth, path.to_string()))
}

/// One HTTP/1.1 exchange; the answer's head (status line and headers), lowercased names.
fn exchange(url: &str, method: &str, body: &[u8], ctype: &str) -> Option<String> {
    let (auth, path) = split(url)?;
    let addr = std::net::ToSocketAddrs::to_socket_addrs(&auth)
        .ok()?
        .next()?;
    let mut s = TcpStream::connect_timeout(&addr, TIMEOUT).ok()?;
    s.set_read_timeout(Some(TIMEOUT)).ok()?;
    s.set_write_timeout(Some(TIMEOUT)).ok()?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {auth}\r\nConnection: close\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).ok()?;
    s.write_all(body).ok()?;
    let mut answer = Vec::new();
    let _ = s.take(64 << 10).read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer);
    Some(text.split("\r\n\r\n").next().unwrap_or("").to_string())
}

/// The progress URL a served job file names, if it came from `wraith serve`.
fn discover(job_url: &str) -> Option<String> {
    let head = exchange(job_url, "HEAD", b"", "text/plain")?;
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim().eq_ignore_ascii_case(wraith_serve::PROGRESS_HEADER))
            .then(|| v.trim().to_string())
            .filter(|v| v.starts_with("http://"))
    })
}

pub struct Reporter {
    url: String,
    latest: Arc<Mutex<(Progress, bool)>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Reporter {
    /// Starts reporting when `job_url` is a job served by `wraith serve`; the renderer's
    /// events feed it.
    pub fn start(job_url: &str, r: &crate::render::Renderer) -> Option<Reporter> {
        let url = discover(job_url)?;
        let latest = Arc::new(Mutex::new((Progress::default(), false)));
        let l2 = latest.clone();
        let started = Mutex::new((Instant::now(), 0u64));
        r.observe(Box::new(move |e| {
            let mut g = l2.lock().unwrap_or_else(|p| p.into_inner());
            match e {
                Event::Started { step, total } => {
                    g.0.step = Some(step.clone());
                    g.0.done = Some(0);
                    g.0.total = Some(*total);
                    *started.lock().unwrap_or_else(|p| p.into_inner()) = (Instant::now(), 0);
                }
                Event::Progress { done, total } => {
                    g.0.done = Some(*done);
                    g.0.total = Some(*total);
                    let (t0, _) = *started.lock().unwrap_or_else(|p| p.into_inner());
                    let secs = t0.elapsed().as_secs_f64();
                    if secs > 0.5 {
                        g.0.rate = Some(*done as f64 / secs);
                    }
                }
                Event::Warning { message } => g.0.warning = Some(message.clone()),
                Event::Finished { .. } => {}
            }
            g.1 = true;
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let (u2, l3, s2) = (url.clone(), latest.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            // Said at once: the room sees the job start even before its first step.
            post(&u2, &Progress::default());
            while !s2.load(Ordering::Relaxed) {
                let t = Instant::now();
                while t.elapsed() < EVERY && !s2.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(100));
                }
                let p = {
                    let mut g = l3.lock().unwrap_or_else(|p| p.into_inner());
                    if !std::mem::take(&mut g.1) {
                        continue;
                    }
                    g.0.clone()
                };
                post(&u2, &p);
            }
        });
        Some(Reporter {
            url,
            latest,
            stop,
            thread: Some(thread),
        })
    }

    /// The job's result, the last report.
    pub fn finish(mut self, result: &serde_json::Value) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let mut p = self
            .latest
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .0
            .clone();
        p.result = Some(result.clone());
        post(&self.url, &p);
    }
}

fn post(url: &str, p: &Progress) {
    if let Ok(body) = serde_json::to_vec(p) {
        let _ = exchange(url, "POST", &body, "application/json");
    }
}
