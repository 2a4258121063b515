//! The terminal UI: one event loop over `app::Msg`, fed by an input thread, a ticker, the
//! hotplug watcher (udev), and the workers that read a disk, open a repository, prepare a job
//! (the engine's checked plan) or run it. Nothing that reads a disk or waits on a server runs
//! on the UI thread. Components render from state only, so each screen can be snapshot-tested
//! on ratatui's TestBackend.
//!
//! The aim is a technician's few keystrokes: repositories are found on the drives and the
//! stick rather than typed (`repos.rs`), the image and the disk of this machine are chosen by
//! default (`preselect.rs`), every screen lists its keys on `?` (`help.rs`), and every error
//! says what to do next (`advice.rs`).

pub mod advice;
pub mod app;
pub mod browse;
pub mod confirm;
pub mod help;
pub mod home;
pub mod hotplug;
pub mod image;
pub mod input;
pub mod keyboard;
pub mod machine;
pub mod menu;
pub mod network;
pub mod opening;
pub mod pick_disk;
pub mod plan;
pub mod popup;
pub mod prepare;
pub mod preselect;
pub mod reading;
pub mod remember;
pub mod repo;
pub mod repos;
pub mod running;
pub mod save_log;
pub mod strings;
pub mod summary;
pub mod theme;

/// Pictures of drawn screens for docs/GUIDE.md, made by a test.
#[cfg(test)]
mod svg;
#[cfg(test)]
mod tests;

use app::{App, Msg, Popup, Screen};
use ratatui::layout::{Constraint, Layout};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;
use std::sync::mpsc;
use std::time::Duration;
use strings as s;

/// The whole screen: title line, the current screen, the key help line, then any popup.
pub fn draw(f: &mut Frame, app: &App) {
    let [title, body, keys] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(1),
    ])
    .areas(f.area());
    f.render_widget(
        Paragraph::new(Line::styled(
            format!(" {} {}", s::TITLE, env!("CARGO_PKG_VERSION")),
            theme::title_style(),
        )),
        title,
    );
    let help = match &app.screen {
        Screen::Home => s::HOME_KEYS,
        Screen::Images(_) if app.flow.action == Some(menu::Action::Browse) => s::BROWSE_KEYS,
        Screen::PickDisk(_) | Screen::Images(_) => s::PICK_KEYS,
        Screen::ImageInfo(..) => s::DETAILS_KEYS,
        Screen::Reading(_) => s::READING_KEYS,
        Screen::Repos(l) if l.forget.is_some() => s::REPOS_FORGET_KEYS,
        Screen::Repos(l) if l.on_remembered() => s::REPOS_KNOWN_KEYS,
        Screen::Repos(_) => s::REPOS_KEYS,
        Screen::RepoPath(_) => s::INPUT_KEYS,
        Screen::WaitNet(_) => s::WAITNET_KEYS,
        Screen::Password(_) => s::PASSWORD_KEYS,
        Screen::Network(n) if n.form.is_some() => s::NET_FORM_KEYS,
        Screen::Network(_) => s::NET_KEYS,
        Screen::Plan(p) if p.layout.is_some() && p.confirm.is_some() => s::CONFIRM_LAYOUT_KEYS,
        Screen::Plan(p) if p.layout.is_some() => s::START_LAYOUT_KEYS,
        Screen::Plan(p) => match (p.verify.is_some(), p.confirm.is_some()) {
            (true, true) => s::CONFIRM_VERIFY_KEYS,
            (false, true) => s::CONFIRM_KEYS,
            (true, false) => s::START_VERIFY_KEYS,
            (false, false) => s::START_KEYS,
        },
        Screen::Running(r) if r.asking_cancel => s::CANCEL_KEYS,
        Screen::Running(_) => s::RUN_KEYS,
        Screen::Summary(sm) if sm.offers_save() => s::SUMMARY_SAVE_KEYS,
        Screen::Summary(_) => s::SUMMARY_KEYS,
        Screen::SaveLog(p) if p.saving.is_some() => s::SAVING_LOG_KEYS,
        Screen::SaveLog(_) => s::SAVE_LOG_KEYS,
        Screen::Browse(b) => browse::keys(b),
    };
    match &app.screen {
        Screen::Home => home::render(f, body, &app.machine),
        Screen::PickDisk(p) => pick_disk::render(f, body, p),
        Screen::Repos(l) => repos::render(f, body, l),
        Screen::RepoPath(i) => repo::render_path(f, body, i),
        Screen::WaitNet(w) => repo::render_wait_net(f, body, w),
        Screen::Password(p) => repo::render_password(f, body, p),
        Screen::Network(n) => network::render(f, body, n),
        Screen::Images(l) => repo::render_images(f, body, l),
        Screen::ImageInfo(d, _) => image::render(f, body, d),
        Screen::Reading(what) => reading::render(f, body, what),
        Screen::Plan(p) => plan::render(f, body, p),
        Screen::Running(r) => {
            running::render(f, body, r);
            if r.asking_cancel {
                popup::cancel_ask(f, body);
            }
        }
        Screen::Summary(sm) => summary::render(f, body, sm),
        Screen::SaveLog(p) => save_log::render(f, body, p),
        Screen::Browse(b) => browse::render(f, body, b),
    }
    let help = match (&app.opening, &app.preparing) {
        (Some(o), _) => {
            popup::opening(f, body, o);
            s::OPENING_KEYS
        }
        (None, Some(p)) => {
            popup::preparing(f, body, p);
            s::PREPARING_KEYS
        }
        (None, None) => help,
    };
    let help = match &app.popup {
        Some(Popup::Menu(sel)) => {
            menu::render(f, body, *sel);
            s::MENU_KEYS
        }
        Some(Popup::Keymap(p)) => {
            keyboard::render(f, body, p);
            s::KEYBOARD_KEYS
        }
        Some(Popup::Error(e)) => {
            advice::render(f, body, e);
            e.key
                .as_ref()
                .map_or(s::ERROR_KEYS, advice::NextKey::keys_line)
        }
        Some(Popup::Refused { interlock, message }) => {
            popup::refused(f, body, message, advice::refusal_next(*interlock));
            s::ERROR_KEYS
        }
        Some(Popup::Remember(ask)) => {
            remember::render(f, body, ask);
            if ask.warning {
                s::REMEMBER_WARN_KEYS
            } else if ask.password {
                s::REMEMBER_KEYS
            } else {
                s::REMEMBER_KEYS_NO_PASSWORD
            }
        }
        None => help,
    };
    if let Some(note) = &app.note {
        popup::note(f, body, note);
    }
    let help = match &app.help {
        Some(h) => {
            help::render(f, body, h);
            s::HELP_CLOSE
        }
        None => help,
    };
    f.render_widget(
        Paragraph::new(Line::from(Span::styled(format!(" {help} "), theme::keys()))),
        keys,
    );
}

/// Leaves raw mode and the alternate screen; safe to call twice.
fn restore_terminal() {
    let _ = crossterm::terminal::disable_raw_mode();
    let _ = crossterm::execute!(
        std::io::stdout(),
        crossterm::terminal::LeaveAlternateScreen,
        crossterm::cursor::Show
    );
}

/// The size to give a terminal that reports none: `COLUMNS`/`LINES` when set, else the
/// 80x25 of a VGA console, which every serial terminal can show too.
pub fn fallback_size(cols: Option<&str>, lines: Option<&str>) -> (u16, u16) {
    let num = |v: Option<&str>, d: u16| {
        v.and_then(|v| v.trim().parse::<u16>().ok())
            .filter(|n| *n >= 10)
            .unwrap_or(d)
    };
    (num(cols, 80), num(lines, 25))
}

nix::ioctl_write_ptr_bad!(set_winsize, nix::libc::TIOCSWINSZ, nix::libc::winsize);

/// A serial line has no size: the kernel reports 0x0 until someone sets it (`stty cols`).
/// Set it on the terminal itself, so the UI and any shell started after it agree.
fn ensure_size() {
    if crossterm::terminal::size().is_ok_and(|(c, r)| c > 0 && r > 0) {
        return;
    }
    let (cols, rows) = fallback_size(
        std::env::var("COLUMNS").ok().as_deref(),
        std::env::var("LINES").ok().as_deref(),
    );
    let ws = nix::libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one winsize from the pointer, which lives across the call.
    let _ = unsafe { set_winsize(nix::libc::STDOUT_FILENO, &ws) };
}

/// Runs the UI until the user leaves; returns the process exit code.
pub fn run() -> anyhow::Result<u8> {
    let live = wraith_engine::live::running_live();
    theme::set_ascii(theme::ascii_from_env());
    ensure_size();
    // A panic must not leave the console in raw mode on the alternate screen: restore first,
    // then let the default hook print the message where it can be read.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore_terminal();
        default_hook(info);
    }));
    let mut machine = machine::collect();
    machine.disks = wraith_engine::disks::list().unwrap_or_default();
    // The keyboard the kernel command line asks for (a failure shows on the home screen as
    // the layout in use: the kernel's own).
    if live {
        machine.keymap = crate::keymap::apply_boot_choice().and_then(Result::ok);
    }

    let (tx, rx) = mpsc::channel();
    input::spawn(tx.clone());
    // Ticker: repaint the clocks of a running job.
    let ticker = tx.clone();
    std::thread::spawn(move || loop {
        std::thread::sleep(Duration::from_millis(500));
        if ticker.send(Msg::Tick).is_err() {
            return;
        }
    });
    hotplug::spawn(tx.clone());

    crossterm::terminal::enable_raw_mode()?;
    crossterm::execute!(std::io::stdout(), crossterm::terminal::EnterAlternateScreen)?;
    let result = (|| -> anyhow::Result<app::Exit> {
        let backend = ratatui::backend::CrosstermBackend::new(std::io::stdout());
        let mut terminal = ratatui::Terminal::new(backend)?;
        terminal.clear()?;
        let mut app = App::new(machine, tx);
        app.finder = repos::Finder::system();
        app.this_machine = wraith_engine::machine::this();
        app.net_dir = Some(crate::net::state_dir());
        app.offer_log_save = live;
        app.refresh_net();
        loop {
            if std::mem::take(&mut app.repaint) {
                terminal.clear()?;
            }
            terminal.draw(|f| draw(f, &app))?;
            let msg = rx.recv()?;
            app.handle(msg);
            // Drain what queued up meanwhile (progress bursts) before the next repaint.
            while let Ok(m) = rx.try_recv() {
                app.handle(m);
            }
            if let Some(e) = app.exit {
                return Ok(e);
            }
        }
    })();
    restore_terminal();
    Ok(result?.code(live))
}
