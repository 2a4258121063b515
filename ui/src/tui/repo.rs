//! The repository: its directory or URL typed in a field, the wait for the network and the
//! password prompt a URL may need, and the list of images it holds; what each leads to in the
//! flow. Opening the repository itself is `opening.rs`.

use super::app::{App, ChosenImage, Msg, Screen};
use super::confirm::{self, TextInput};
use super::image::ImageDetails;
use super::input::is_ctrl;
use super::menu::Action;
use super::{strings as s, theme};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wraith_engine::human_bytes as hb;
use wraith_engine::repo::location::Location;
use wraith_engine::repo::{manifest::Manifest, Credentials, ImageRef, Password};

/// What a key in the repository field asks for.
#[derive(Debug, PartialEq)]
pub enum RepoKey {
    None,
    Back,
    /// Enter: the location as typed, trimmed.
    Typed(String),
}

pub fn path_key(input: &mut TextInput, k: &KeyEvent) -> RepoKey {
    match k.code {
        KeyCode::Esc => RepoKey::Back,
        KeyCode::Enter => RepoKey::Typed(input.value.trim().to_string()),
        _ => {
            input.key(k);
            RepoKey::None
        }
    }
}

pub fn render_path(f: &mut Frame, area: Rect, input: &TextInput) {
    let block = theme::block(s::REPO_PROMPT);
    let inner = block.inner(area);
    f.render_widget(block, area);
    let [hint, _, field] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(inner);
    f.render_widget(
        Paragraph::new(Line::styled(s::REPO_HINT, theme::normal())),
        hint,
    );
    confirm::render(f, field, s::REPO_PROMPT, input);
}

/// The password for a repository URL's user. What is typed lives here until Enter hands it
/// to the engine as a [`Password`]; it is never drawn (not even as one `*` per character)
/// and the type has no Debug, so it cannot end up in a log line by accident.
pub struct PasswordPrompt {
    /// The location as typed (a URL cannot hold a password: the engine refuses one).
    pub at: String,
    pub shown: String,
    pub user: String,
    typed: String,
    /// The engine's message after a failed login.
    pub error: Option<String>,
}

impl PasswordPrompt {
    pub fn new(at: String, shown: String, user: String) -> Self {
        PasswordPrompt {
            at,
            shown,
            user,
            typed: String::new(),
            error: None,
        }
    }

    /// Edits the hidden field; Enter hands over what was typed, leaving the field empty.
    pub fn key(&mut self, k: &KeyEvent) -> PasswordKey {
        match k.code {
            KeyCode::Esc => return PasswordKey::Back,
            KeyCode::Enter => {
                return PasswordKey::Typed {
                    at: self.at.clone(),
                    password: self.take(),
                }
            }
            KeyCode::Char('u') if k.modifiers.contains(KeyModifiers::CONTROL) => self.typed.clear(),
            KeyCode::Char(c) if !k.modifiers.contains(KeyModifiers::CONTROL) => self.typed.push(c),
            KeyCode::Backspace => {
                self.typed.pop();
            }
            _ => {}
        }
        PasswordKey::None
    }

    /// The typed password, leaving the field empty.
    pub fn take(&mut self) -> Password {
        Password::new(std::mem::take(&mut self.typed))
    }

    pub fn failed(&mut self, e: String) {
        self.typed.clear();
        self.error = Some(e);
    }
}

/// What a key on the password prompt asks for. No Debug: it carries the password.
pub enum PasswordKey {
    None,
    Back,
    Typed { at: String, password: Password },
}

pub fn render_password(f: &mut Frame, area: Rect, p: &PasswordPrompt) {
    let field = if p.typed.is_empty() {
        "[_]".to_string()
    } else {
        format!("[{}_]", s::PASSWORD_TYPED)
    };
    let mut lines = vec![
        Line::styled(p.shown.clone(), theme::title_style()),
        Line::styled(format!("{} {}.", s::PASSWORD_FOR, p.user), theme::normal()),
        Line::raw(""),
        Line::from(vec![
            ratatui::text::Span::styled(format!("{}: ", s::PASSWORD_PROMPT), theme::warn()),
            ratatui::text::Span::styled(field, theme::selected()),
        ]),
        Line::raw(""),
        Line::styled(s::PASSWORD_HIDDEN, theme::normal()),
    ];
    if let Some(e) = &p.error {
        lines.push(Line::raw(""));
        lines.push(Line::styled(e.clone(), theme::danger()));
        lines.push(Line::styled(s::PASSWORD_RETRY, theme::normal()));
    }
    f.render_widget(
        Paragraph::new(lines)
            .block(theme::block(s::PASSWORD_TITLE))
            .wrap(Wrap { trim: false }),
        area,
    );
}

/// A network repository waiting for an address, with the worker's cancel flag.
pub struct WaitNet {
    pub at: String,
    pub shown: String,
    pub since: Instant,
    /// Whole seconds waited, as last ticked (drawn; tests set it).
    pub waited: u64,
    pub limit: Duration,
    pub cancel: Arc<AtomicBool>,
}

impl WaitNet {
    pub fn new(at: String, shown: String, limit: Duration) -> Self {
        WaitNet {
            at,
            shown,
            since: Instant::now(),
            waited: 0,
            limit,
            cancel: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Esc (or Ctrl-C) and `n` stop the wait's worker: its late answer must change nothing.
    pub fn key(&mut self, k: &KeyEvent) -> WaitKey {
        if k.code == KeyCode::Esc || is_ctrl(k, 'c') {
            self.cancel.store(true, Ordering::Relaxed);
            WaitKey::Back
        } else if k.code == KeyCode::Char('n') {
            self.cancel.store(true, Ordering::Relaxed);
            WaitKey::Network {
                at: self.at.clone(),
            }
        } else {
            WaitKey::None
        }
    }
}

/// What a key during the wait for the network asks for.
#[derive(Debug, PartialEq)]
pub enum WaitKey {
    None,
    Back,
    /// To the network screen, and back to the repository `at` after.
    Network {
        at: String,
    },
}

pub fn render_wait_net(f: &mut Frame, area: Rect, w: &WaitNet) {
    let lines = vec![
        Line::styled(format!("{} {}", w.shown, s::WAITNET_WHY), theme::normal()),
        Line::raw(""),
        Line::styled(
            format!(
                "waiting... {} s of at most {} s",
                w.waited,
                w.limit.as_secs()
            ),
            theme::warn(),
        ),
        Line::raw(""),
        Line::styled(s::WAITNET_HOW, theme::normal()),
    ];
    f.render_widget(
        Paragraph::new(lines)
            .block(theme::block(s::WAITNET_TITLE))
            .wrap(Wrap { trim: false }),
        area,
    );
}

#[derive(Clone, Debug)]
pub struct ImageRow {
    pub image: ImageRef,
    pub saved: String,
    pub source: String,
    pub size: u64,
    /// Compressed bytes of the chunks it references (shared chunks counted in full).
    pub stored: u64,
    /// None when the manifest could not be read; `source` then holds the error.
    pub manifest: Option<Manifest>,
}

#[derive(Clone, Debug)]
pub struct ImageList {
    pub location: String,
    pub rows: Vec<ImageRow>,
    pub sel: usize,
}

impl ImageList {
    pub fn up(&mut self) {
        self.sel = self.sel.saturating_sub(1);
    }
    pub fn down(&mut self) {
        if self.sel + 1 < self.rows.len() {
            self.sel += 1;
        }
    }
    pub fn chosen(&self) -> Option<&ImageRow> {
        self.rows.get(self.sel)
    }

    pub fn key(&mut self, k: &KeyEvent) -> ImageKey {
        match k.code {
            KeyCode::Up | KeyCode::Char('k') => self.up(),
            KeyCode::Down | KeyCode::Char('j') => self.down(),
            KeyCode::Esc => return ImageKey::Back,
            KeyCode::Enter => {
                if let Some(r) = self.chosen().cloned() {
                    return ImageKey::Chosen(Box::new(r));
                }
            }
            _ => {}
        }
        ImageKey::None
    }
}

/// What a key on the image list asks for.
#[derive(Debug)]
pub enum ImageKey {
    None,
    Back,
    Chosen(Box<ImageRow>),
}

/// `hb` without the space, to fit the narrow size columns ("42.0GB"-style is not used:
/// "39.1GiB" keeps the binary units of the rest of the UI).
fn short_bytes(n: u64) -> String {
    hb(n).replace(' ', "")
}

pub fn render_images(f: &mut Frame, area: Rect, l: &ImageList) {
    let mut lines = vec![
        Line::styled(l.location.clone(), theme::title_style()),
        Line::styled(s::IMAGE_COLUMNS, theme::title_style()),
    ];
    if l.rows.is_empty() {
        lines.push(Line::styled(s::NO_IMAGES, theme::warn()));
    }
    for (n, r) in l.rows.iter().enumerate() {
        let style = match (n == l.sel, r.manifest.is_some() || r.size > 0) {
            (true, _) => theme::selected(),
            (false, true) => theme::normal(),
            (false, false) => theme::danger(),
        };
        // Two lines per image so the name and the source disk fit 80 columns in full.
        lines.push(Line::styled(
            format!(
                "{:<34} {:<23} {:>9} {:>9}",
                super::home::trunc(&r.image.name, 34),
                r.saved,
                short_bytes(r.size),
                short_bytes(r.stored)
            ),
            style,
        ));
        lines.push(Line::styled(
            format!("    {}  {}", r.image.id, r.source),
            theme::normal(),
        ));
    }
    f.render_widget(Paragraph::new(lines).block(theme::block(s::IMAGES)), area);
}

impl App {
    /// Enter in the repository field.
    pub(super) fn typed_repo(&mut self, at: String) {
        // The CLI's grammar: a bad name after ':' is an error naming the rule, never part of
        // a directory's name (a directory with ':' in its name ends with '/').
        let spec = match wraith_engine::ops::repository::parse_image_spec(&at) {
            Ok(spec) => spec,
            Err(e) => return self.error(e),
        };
        if spec.id.is_some() && self.flow.action == Some(Action::Save) {
            return self.error(format!(
                "{at}: a save chooses the image id; give REPO or REPO:NAME"
            ));
        }
        self.flow.wanted = spec.name.map(|n| (n, spec.id));
        let at = spec.repository;
        // A new location: a password typed for another one does not carry over.
        if self.flow.repo.as_ref().is_none_or(|r| r.at != at) {
            self.flow.creds = Credentials::none();
        }
        self.picked_repo(at);
    }

    /// A repository typed in: a URL first waits for the network (on the live system,
    /// while no interface has an address) and asks for the password of its user.
    pub(super) fn picked_repo(&mut self, at: String) {
        if at.is_empty() {
            return;
        }
        let loc = match Location::parse(&at) {
            Ok(l) => l,
            Err(e) => return self.error(e),
        };
        if !matches!(loc, Location::Dir(_)) {
            if let Some(dir) = self.net_dir.clone() {
                if crate::net::read_state(&dir).is_some() && !crate::net::ready(&dir) {
                    return self.wait_for_network(at, loc.display(), dir);
                }
            }
        }
        self.login(at, &loc);
    }

    fn wait_for_network(&mut self, at: String, shown: String, dir: PathBuf) {
        let limit = crate::net::wait_limit();
        let w = WaitNet::new(at.clone(), shown, limit);
        let (wait, tx) = (w.cancel.clone(), self.tx.clone());
        self.screen = Screen::WaitNet(w);
        std::thread::spawn(move || {
            let stop = || wait.load(Ordering::Relaxed);
            let result = crate::net::wait_ready(&dir, limit, &stop);
            let _ = tx.send(Msg::NetWaited { at, wait, result });
        });
    }

    pub(super) fn net_waited(
        &mut self,
        at: String,
        which: &Arc<AtomicBool>,
        r: Result<(), crate::net::WaitError>,
    ) {
        let Screen::WaitNet(w) = &self.screen else {
            return; // cancelled: the user went back
        };
        // Only this wait's answer: a wait given up on with Esc answers "cancelled" late, and
        // must not end the wait started after it for the same URL (seen under load).
        if w.at != at || !Arc::ptr_eq(&w.cancel, which) {
            return;
        }
        let limit = w.limit.as_secs();
        match r {
            Ok(()) => match Location::parse(&at) {
                Ok(loc) => self.login(at, &loc),
                Err(e) => self.error(e),
            },
            Err(crate::net::WaitError::Cancelled) => self.back(),
            Err(_) => {
                let shown = w.shown.clone();
                self.back();
                self.error(format!(
                    "{shown}: {} {limit} s; {}",
                    s::WAITNET_TIMEOUT,
                    s::WAITNET_TIMEOUT_HINT
                ));
            }
        }
    }

    /// Asks for the password when the URL names a user and none was typed yet.
    fn login(&mut self, at: String, loc: &Location) {
        if loc.wants_password() && self.flow.creds.password.is_none() {
            self.screen = Screen::Password(PasswordPrompt::new(
                at,
                loc.display(),
                loc.user().unwrap_or_default().to_string(),
            ));
            return;
        }
        self.open_repo(at);
    }

    /// An engine error while opening: on the password prompt it stays there, with the
    /// engine's message (a wrong password says so), for another try.
    pub(super) fn open_failed(&mut self, e: impl std::fmt::Display) {
        if let Screen::Password(p) = &mut self.screen {
            p.failed(e.to_string());
            self.flow.creds = Credentials::none();
            return;
        }
        self.error(e)
    }

    /// An image chosen from the list: restore it, verify it, or show it in detail.
    pub(super) fn picked_image(&mut self, row: ImageRow) {
        match self.flow.action {
            Some(Action::Restore) => {
                let Some(manifest) = row.manifest else {
                    return self.error(row.source);
                };
                self.flow.image = Some(ChosenImage {
                    image: row.image,
                    manifest,
                });
                self.pick_target();
            }
            Some(Action::Verify) => self.verify(row.image),
            Some(Action::Browse) => {
                let Some(manifest) = row.manifest else {
                    return self.error(row.source);
                };
                let list = match std::mem::replace(&mut self.screen, Screen::Home) {
                    Screen::Images(l) => l,
                    _ => return,
                };
                self.screen = Screen::ImageInfo(
                    Box::new(ImageDetails {
                        image: row.image,
                        manifest,
                        scroll: 0,
                    }),
                    list,
                );
            }
            _ => {}
        }
    }
}
