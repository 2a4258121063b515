//! What the engine tells its user interface while it works, and how it is told to stop.

use serde::Serialize;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};

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

/// Where a repository's location tells, at the moment it happens, what the user should know
/// but that does not stop the job: a server that stopped answering and is being retried, and
/// when it answers again. The thread stuck in the retry sends the notice into a channel the
/// job injected with [`Notices::during`]; a thread of the job blocked on that channel (woken
/// by the notice, not polling) hands it to the job's sink at once, so a job that looks stalled
/// is explained while it waits, not after. Told with nobody listening, a notice is dropped.
#[derive(Default)]
pub struct Notices {
    listeners: Mutex<Vec<(u64, crossbeam_channel::Sender<String>)>>,
    next_id: AtomicU64,
}

impl Notices {
    /// Runs `f` while `sink` receives every notice as a warning event, from whichever thread
    /// tells it. Several jobs may listen at once; each hears every notice told meanwhile, and
    /// all of them before `during` returns.
    pub fn during<T>(&self, sink: &dyn Sink, f: impl FnOnce() -> T) -> T {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = crossbeam_channel::unbounded::<String>();
        self.lock().push((id, tx));
        /// Stops listening when the job ends, also by a panic: dropping the sender ends the
        /// forwarding thread, which the scope then joins.
        struct Unlisten<'n>(&'n Notices, u64);
        impl Drop for Unlisten<'_> {
            fn drop(&mut self) {
                let id = self.1;
                self.0.lock().retain(|(l, _)| *l != id);
            }
        }
        std::thread::scope(|s| {
            s.spawn(move || {
                for message in rx {
                    sink.event(Event::Warning { message });
                }
            });
            let _unlisten = Unlisten(self, id);
            f()
        })
    }

    /// Tells every listening job, now, as a warning.
    pub fn tell(&self, message: String) {
        for (_, tx) in self.lock().iter() {
            // A job that just stopped listening has nobody to tell: nothing is lost for it.
            let _ = tx.send(message.clone());
        }
    }

    fn lock(&self) -> MutexGuard<'_, Vec<(u64, crossbeam_channel::Sender<String>)>> {
        // A sink that panicked leaves the list intact: keep using it.
        self.listeners.lock().unwrap_or_else(|p| p.into_inner())
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_notice_reaches_the_listening_sink_from_another_thread_at_once() {
        let notices = Notices::default();
        let heard = Mutex::new(Vec::new());
        let sink = |e: Event| heard.lock().unwrap().push(e);
        notices.during(&sink, || {
            std::thread::scope(|s| {
                s.spawn(|| notices.tell("server retried".into()));
            });
            // Heard while the job still runs (a job stuck in a retry must be explained then),
            // not only at its end: the forwarding thread wakes on the notice.
            let since = std::time::Instant::now();
            while heard.lock().unwrap().is_empty() {
                assert!(
                    since.elapsed().as_secs() < 10,
                    "not heard while the job runs"
                );
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        });
        notices.tell("nobody listens".into());
        assert_eq!(
            *heard.lock().unwrap(),
            vec![Event::Warning {
                message: "server retried".into()
            }]
        );
    }

    #[test]
    fn a_sink_stops_listening_when_its_job_ends_even_by_panic() {
        let notices = Notices::default();
        let heard = Mutex::new(0);
        let sink = |_: Event| *heard.lock().unwrap() += 1;
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            notices.during(&sink, || panic!("job failed"))
        }));
        assert!(r.is_err());
        assert!(notices.lock().is_empty());
        notices.tell("after".into());
        assert_eq!(*heard.lock().unwrap(), 0);
    }

    #[test]
    fn two_jobs_listening_at_once_each_hear_while_they_run() {
        let notices = Notices::default();
        let (a, b) = (Mutex::new(0), Mutex::new(0));
        let sink_a = |_: Event| *a.lock().unwrap() += 1;
        let sink_b = |_: Event| *b.lock().unwrap() += 1;
        notices.during(&sink_a, || {
            notices.during(&sink_b, || notices.tell("both".into()));
            notices.tell("only a".into());
        });
        assert_eq!((*a.lock().unwrap(), *b.lock().unwrap()), (2, 1));
    }
}
