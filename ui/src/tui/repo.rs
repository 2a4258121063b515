//! The repository: its directory or URL typed in a field, the wait for the network and the
//! password prompt a URL may need, and the list of images it holds.

use super::confirm::{self, TextInput};
use super::{strings as s, theme};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wraith_engine::human_bytes as hb;
use wraith_engine::repo::Password;
use wraith_engine::repo::{manifest::Manifest, ImageRef};

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

    pub fn key(&mut self, k: &crossterm::event::KeyEvent) {
        use crossterm::event::{KeyCode, KeyModifiers};
        match k.code {
            KeyCode::Char('u') if k.modifiers.contains(KeyModifiers::CONTROL) => self.typed.clear(),
            KeyCode::Char(c) if !k.modifiers.contains(KeyModifiers::CONTROL) => self.typed.push(c),
            KeyCode::Backspace => {
                self.typed.pop();
            }
            _ => {}
        }
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
