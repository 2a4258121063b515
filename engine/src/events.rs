//! What the engine tells its user interface while it works, and how it is told to stop.

use serde::Serialize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock};

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A long step begins; `total` is the number of bytes it will process.
    Started { step: String, total: u64 },
    /// `done` of `total` bytes of the current step processed.
    Progress { done: u64, total: u64 },
    /// Something the user should know that does not stop the job.
    Warning { message: String },
    /// The current step ended.
    Finished { step: String },
}

/// Receives events. Implementations must be cheap: they are called from the pipeline.
pub trait Sink: Send + Sync {
    fn event(&self, event: Event);
}

/// A sink that drops everything (tests, quiet callers).
pub struct Quiet;
impl Sink for Quiet {
    fn event(&self, _: Event) {}
}

impl<F: Fn(Event) + Send + Sync> Sink for F {
    fn event(&self, event: Event) {
        self(event)
    }
}

/// Set by the UI (Ctrl-C, a cancel button); checked by the pipelines between chunks.
#[derive(Clone, Default, Debug)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst)
    }
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
    /// `Err(Cancelled)` once cancelled: use with `?` between units of work.
    pub fn check(&self) -> crate::Result<()> {
        if self.is_cancelled() {
            Err(crate::Error::Cancelled)
        } else {
            Ok(())
        }
    }
}

/// What every pipeline needs besides its inputs: where its events go, how it is told to stop,
/// and how many threads it may keep busy.
#[derive(Clone, Copy)]
pub struct Ctx<'a> {
    pub sink: &'a dyn Sink,
    pub cancel: &'a Cancel,
    /// Worker threads for hashing, compressing and decoding; at least 1.
    pub threads: usize,
}

impl<'a> Ctx<'a> {
    pub fn new(sink: &'a dyn Sink, cancel: &'a Cancel, threads: usize) -> Self {
        Ctx {
            sink,
            cancel,
            threads: threads.max(1),
        }
    }
}

impl Ctx<'static> {
    /// Events dropped, never cancelled, one thread per core: for tests and examples.
    pub fn quiet() -> Self {
        static NEVER: LazyLock<Cancel> = LazyLock::new(Cancel::new);
        Ctx::new(&Quiet, &NEVER, crate::pipeline::worker_count())
    }
}

/// Rate-limits progress events so a fast pipeline does not flood the UI.
pub(crate) struct Progress<'a> {
    sink: &'a dyn Sink,
    total: u64,
    done: u64,
    last: std::time::Instant,
}

impl<'a> Progress<'a> {
    pub fn start(sink: &'a dyn Sink, step: &str, total: u64) -> Self {
        sink.event(Event::Started {
            step: step.to_string(),
            total,
        });
        Progress {
            sink,
            total,
            done: 0,
            last: std::time::Instant::now(),
        }
    }
    pub fn add(&mut self, n: u64) {
        self.done += n;
        if self.last.elapsed() >= std::time::Duration::from_millis(100) {
            self.last = std::time::Instant::now();
            self.sink.event(Event::Progress {
                done: self.done,
                total: self.total,
            });
        }
    }
    pub fn finish(self, step: &str) {
        self.sink.event(Event::Progress {
            done: self.done,
            total: self.total,
        });
        self.sink.event(Event::Finished {
            step: step.to_string(),
        });
    }
}
