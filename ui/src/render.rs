//! Rendering engine events for people (indicatif progress bars on stderr) or machines (JSON
//! lines on stderr), and turning Ctrl-C into the engine's cancel token.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use wraith_engine::events::{Cancel, Event, Sink};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigint(_: libc_int) {
    // Only an atomic store: anything else is not async-signal-safe.
    INTERRUPTED.store(true, Ordering::SeqCst);
}
#[allow(non_camel_case_types)]
type libc_int = i32;

/// The first Ctrl-C asks the engine to stop between chunks (it then finishes what keeps the
/// repository consistent); the cancel token is polled from a small watcher thread because a
/// signal handler may do nothing but set a flag.
pub fn install_ctrl_c() -> Cancel {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    let cancel = Cancel::new();
    let action = SigAction::new(
        SigHandler::Handler(on_sigint),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    // SAFETY: the handler only stores to an atomic.
    let _ = unsafe { sigaction(Signal::SIGINT, &action) };
    let c = cancel.clone();
    std::thread::spawn(move || loop {
        if INTERRUPTED.load(Ordering::SeqCst) {
            c.cancel();
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    });
    cancel
}

/// SIGTERM stops like Ctrl-C (for a process that others stop, such as `wraith mount`'s
/// background server, which `wraith umount` asks to end). Call after [`install_ctrl_c`].
pub fn stop_on_sigterm() {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    let action = SigAction::new(
        SigHandler::Handler(on_sigint),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    // SAFETY: the handler only stores to an atomic.
    let _ = unsafe { sigaction(Signal::SIGTERM, &action) };
}

pub struct Renderer {
    json: bool,
    bar: Mutex<Option<ProgressBar>>,
    /// Also told every event (a job reporting its progress to `wraith serve`).
    observer: Mutex<Option<Observer>>,
}

type Observer = Box<dyn Fn(&Event) + Send + Sync>;

impl Renderer {
    pub fn new(json: bool) -> Self {
        Renderer {
            json,
            bar: Mutex::new(None),
            observer: Mutex::new(None),
        }
    }
    /// Every event from now on is also given to `f`.
    pub fn observe(&self, f: Observer) {
        *self.observer.lock().unwrap_or_else(|p| p.into_inner()) = Some(f);
    }
    /// Something worth telling that is neither progress nor a warning ("connected with SMB
    /// 3.1.1", "waiting for the network"): a line for people, a `note` event under `--json`,
    /// where every line on stderr is a JSON event.
    pub fn note(&self, message: &str) {
        if self.json {
            eprintln!(
                "{}",
                serde_json::json!({ "event": "note", "message": message })
            );
        } else {
            eprintln!("{message}");
        }
    }
    pub fn warn(&self, message: &str) {
        self.event(Event::Warning {
            message: message.to_string(),
        });
    }
}

impl Sink for Renderer {
    fn event(&self, event: Event) {
        if let Some(f) = self
            .observer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            f(&event);
        }
        if self.json {
            if let Ok(line) = serde_json::to_string(&event) {
                eprintln!("{line}");
            }
            return;
        }
        let mut bar = self.bar.lock().unwrap_or_else(|p| p.into_inner());
        match event {
            Event::Started { step, total } => {
                let pb = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
                pb.set_style(
                    ProgressStyle::with_template(
                        "{prefix:>8} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta} ({elapsed})",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
                );
                pb.set_prefix(step);
                *bar = Some(pb);
            }
            Event::Progress { done, .. } => {
                if let Some(pb) = bar.as_ref() {
                    pb.set_position(done);
                }
            }
            Event::Warning { message } => match bar.as_ref() {
                Some(pb) => pb.println(format!("warning: {message}")),
                None => eprintln!("warning: {message}"),
            },
            Event::Finished { .. } => {
                if let Some(pb) = bar.take() {
                    pb.finish();
                }
            }
        }
    }
}
