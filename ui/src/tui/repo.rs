//! The repository typed in a field (a directory, `label:NAME/dir`, a URL: the list of
//! repositories found is `repos.rs`), the wait for the network and the password prompt a URL
//! may need, and the list of images it holds; what each leads to in the flow. Opening the
//! repository itself is `opening.rs`.

use super::advice::NextKey;
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
        Constraint::Length(2),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(inner);
    f.render_widget(
        Paragraph::new(vec![
            Line::styled(s::REPO_HINT, theme::normal()),
            Line::styled(s::REPO_HINT_SHARE, theme::normal()),
        ]),
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
    /// When it was saved (seconds since the epoch): the list's order within a machine.
    pub created: u64,
    pub source: String,
    /// The machine it was saved on, or its source disk: the group it is listed under.
    pub group: String,
    pub size: u64,
    /// Compressed bytes this save added to the repository (what an incremental save cost).
    pub added: u64,
    /// None when the manifest could not be read; `source` then holds the error.
    pub manifest: Option<Manifest>,
}

#[derive(Clone, Debug)]
pub struct ImageList {
    pub location: String,
    pub rows: Vec<ImageRow>,
    pub sel: usize,
    /// Why the list started where it did ("preselected: saved from this disk, S3Z9NB0K").
    pub why: Option<String>,
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

fn image_columns(name: &str, saved: &str, size: &str, added: &str) -> String {
    format!("{name:<34} {saved:<23} {size:>9} {added:>9}")
}

pub fn render_images(f: &mut Frame, area: Rect, l: &ImageList) {
    let block = theme::block(s::IMAGES);
    let inner = block.inner(area);
    f.render_widget(block, area);
    let mut head = vec![Line::styled(l.location.clone(), theme::title_style())];
    if let Some(why) = &l.why {
        head.push(Line::styled(why.clone(), theme::ok()));
    }
    head.push(Line::styled(
        image_columns(
            s::IMAGE_COL_NAME,
            s::IMAGE_COL_SAVED,
            s::IMAGE_COL_SIZE,
            s::IMAGE_COL_ADDED,
        ),
        theme::title_style(),
    ));
    let mut lines = Vec::new();
    if l.rows.is_empty() {
        lines.push(Line::styled(s::NO_IMAGES, theme::warn()));
    }
    let mut sel_line = 0;
    let mut group = None;
    for (n, r) in l.rows.iter().enumerate() {
        if group != Some(&r.group) {
            let title = if r.group.is_empty() {
                s::IMAGE_DAMAGED_GROUP.to_string()
            } else {
                r.group.clone()
            };
            lines.push(Line::styled(title, theme::warn()));
            group = Some(&r.group);
        }
        if n == l.sel {
            sel_line = lines.len();
        }
        let style = match (n == l.sel, r.manifest.is_some() || r.size > 0) {
            (true, _) => theme::selected(),
            (false, true) => theme::normal(),
            (false, false) => theme::danger(),
        };
        // Two lines per image so the name and the source disk fit 80 columns in full.
        lines.push(Line::styled(
            image_columns(
                &format!("  {}", super::home::trunc(&r.image.name, 32)),
                &r.saved,
                &short_bytes(r.size),
                &short_bytes(r.added),
            ),
            style,
        ));
        lines.push(Line::styled(
            format!("    {}  {}", r.image.id, r.source),
            theme::normal(),
        ));
    }
    let [top, body] =
        Layout::vertical([Constraint::Length(head.len() as u16), Constraint::Min(1)]).areas(inner);
    f.render_widget(Paragraph::new(head), top);
    // Keep the selected image (two lines) in view.
    let first = (sel_line + 2).saturating_sub(body.height as usize);
    let lines: Vec<Line> = lines.into_iter().skip(first).collect();
    f.render_widget(Paragraph::new(lines), body);
}

impl App {
    /// Enter in the repository field.
    pub(super) fn typed_repo(&mut self, at: String) {
        // The CLI's grammar: a bad name after ':' is an error naming the rule, never part of
        // a directory's name (a directory with ':' in its name ends with '/').
        let spec = match wraith_engine::ops::repository::parse_image_spec(&at) {
            Ok(spec) => spec,
            Err(e) => return self.failed(s::ERR_TYPED, e, Some(&at)),
        };
        if spec.id.is_some() && self.flow.action == Some(Action::Save) {
            return self.error_with(
                s::ERR_TYPED,
                format!("{at}: a save chooses the image id"),
                s::ERR_SAVE_ID_NEXT,
                Some(NextKey::Type { at }),
            );
        }
        self.flow.wanted = spec.name.map(|n| (n, spec.id));
        let at = spec.repository;
        // A new location: a password typed for another one does not carry over.
        if self.flow.repo.as_ref().is_none_or(|r| r.at != at) {
            self.flow.creds = Credentials::none();
        }
        self.flow.typed = true;
        self.flow.from_known = false;
        self.flow.repo_disk = None;
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
            Err(e) => return self.failed(s::ERR_TYPED, e, Some(&at)),
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
                Err(e) => self.failed(s::ERR_TYPED, e, Some(&at)),
            },
            Err(crate::net::WaitError::Cancelled) => self.back(),
            Err(_) => {
                let shown = w.shown.clone();
                self.back();
                self.error_with(
                    format!("{} {shown}", s::ERR_NO_NETWORK),
                    format!("{} {limit} s", s::WAITNET_TIMEOUT),
                    s::WAITNET_TIMEOUT_HINT,
                    Some(NextKey::Network { at: Some(at) }),
                );
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

    /// An engine error while opening the repository `at`: a refused login on the password
    /// prompt stays there, with the engine's message, for another try; anything else says
    /// what to do next.
    pub(super) fn open_failed(&mut self, at: &str, e: wraith_engine::Error) {
        if let Screen::Password(p) = &mut self.screen {
            self.flow.creds = Credentials::none();
            if e.net_cause() == Some(wraith_engine::NetCause::Denied) {
                p.failed(e.to_string());
                return;
            }
        }
        let what = format!("{} {}", s::ERR_OPEN, super::opening::shown_location(at));
        self.failed(what, e, Some(at))
    }

    /// A damaged image picked: its manifest cannot be read, so it cannot be used.
    fn damaged(&mut self, row: &ImageRow) {
        self.error_with(
            format!("{} {}", s::ERR_DAMAGED, row.image),
            row.source.clone(),
            s::ERR_DAMAGED_NEXT,
            None,
        )
    }

    /// An image chosen from the list: restore it, verify it, or show it in detail.
    pub(super) fn picked_image(&mut self, row: ImageRow) {
        match self.flow.action {
            Some(Action::Restore) => {
                let Some(manifest) = row.manifest.clone() else {
                    return self.damaged(&row);
                };
                self.flow.image = Some(ChosenImage {
                    image: row.image,
                    manifest,
                });
                // Kept for Esc on the target list: back to the list as it was.
                if let Screen::Images(l) = &self.screen {
                    self.flow.images = Some(l.clone());
                }
                self.pick_target();
            }
            Some(Action::Verify) => self.verify(row.image),
            Some(Action::Browse) => {
                let Some(manifest) = row.manifest.clone() else {
                    return self.damaged(&row);
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
