//! Errors a technician can act on: every error popup says what failed, where (the engine's own
//! message, kept whole), and the next step, with a key for it when there is one (retype the
//! password, the network screen, type the location). The next step comes from the kind of the
//! engine's error ([`Error`] variants, [`NetCause`], [`Interlock`]), never from its words, so
//! rewording a message in the engine cannot change the advice.

use super::app::{App, Popup, Screen};
use super::confirm::TextInput;
use super::repo::PasswordPrompt;
use super::{strings as s, theme};
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Clear, Paragraph, Wrap};
use ratatui::Frame;
use wraith_engine::repo::location::Location;
use wraith_engine::{Error, Interlock, NetCause};

/// A key the error popup offers besides closing it.
#[derive(Clone, Debug, PartialEq)]
pub enum NextKey {
    /// `p`: back to the password prompt for the location `at`.
    Password { at: String },
    /// `n`: the network screen, and back to the location after.
    Network { at: Option<String> },
    /// `t`: the repository field, holding `at` to correct.
    Type { at: String },
}

impl NextKey {
    pub fn keys_line(&self) -> &'static str {
        match self {
            NextKey::Password { .. } => s::ERROR_NEXT_KEYS_PASSWORD,
            NextKey::Network { .. } => s::ERROR_NEXT_KEYS_NETWORK,
            NextKey::Type { .. } => s::ERROR_NEXT_KEYS_TYPE,
        }
    }
}

/// What an error popup shows.
#[derive(Clone, Debug, PartialEq)]
pub struct ErrorPopup {
    /// What was being done: "Could not open the repository label:IMAGES/lab".
    pub failed: String,
    /// The engine's message (or the UI's own, for what the UI checks itself).
    pub message: String,
    /// What to do now.
    pub next: String,
    pub key: Option<NextKey>,
}

impl std::fmt::Display for ErrorPopup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {} ({})", self.failed, self.message, self.next)
    }
}

/// The next step after `e`, when it happened to the repository location `at` (as the user
/// chose it: a directory, `label:...`, a URL) or to something else (`at` None).
pub fn next_step(e: &Error, at: Option<&str>) -> (String, Option<NextKey>) {
    let typed = |at: &str| Some(NextKey::Type { at: at.to_string() });
    match e {
        Error::Network { cause, .. } => {
            let loc = at.and_then(|a| Location::parse(a).ok());
            let user = loc.as_ref().and_then(|l| l.user()).map(str::to_string);
            match (cause, at, user) {
                (NetCause::Denied, Some(at), Some(u)) => (
                    format!(
                        "The share refused the password for user {u}: check it or press p \
                         to retype"
                    ),
                    Some(NextKey::Password { at: at.to_string() }),
                ),
                (NetCause::Denied, Some(at), None) => (
                    "The share wants a user and password: press t and write the user in the \
                     URL (smb://USER@host/share)"
                        .to_string(),
                    typed(at),
                ),
                (NetCause::Unreachable, at, _) => (
                    "Check the network cable and the server's address, or press n for the \
                     network screen"
                        .to_string(),
                    Some(NextKey::Network {
                        at: at.map(str::to_string),
                    }),
                ),
                (_, Some(at), _) => (
                    "Check the server and the share's name or path, then press t to correct \
                     the location"
                        .to_string(),
                    typed(at),
                ),
                _ => (
                    "Check the server and the network, then try again".to_string(),
                    None,
                ),
            }
        }
        Error::NotFound { .. } => match at {
            Some(at) if at.starts_with("label:") || at.starts_with("uuid:") => (
                "Plug in the drive with that name (or check the name), then choose it again; \
                 t types another location"
                    .to_string(),
                typed(at),
            ),
            Some(at) => (
                "Check the path (is its drive plugged in?), or press t to type another \
                 location"
                    .to_string(),
                typed(at),
            ),
            None => (
                "Check that it is still there (plugged in?) and try again".to_string(),
                None,
            ),
        },
        Error::Invalid(_) => match at {
            Some(at) => ("Press t to correct what was typed".to_string(), typed(at)),
            None => ("Correct the choice and try again".to_string(), None),
        },
        Error::Corrupt { .. } => (
            "That data is damaged: choose another image, or verify the repository to see \
             what else is"
                .to_string(),
            None,
        ),
        Error::Unsupported(_) => (
            "Wraith cannot use this: choose another disk or repository".to_string(),
            None,
        ),
        Error::Io { .. } => (
            "Check that drive: still plugged in, not full, not write-protected; then try \
             again"
                .to_string(),
            None,
        ),
        Error::TargetGone { .. } => (
            "Plug the disk back in (check its cable), then run the job again from the start"
                .to_string(),
            None,
        ),
        Error::Refused { interlock, .. } => (refusal_next(*interlock).to_string(), None),
        Error::Cancelled => (
            "Nothing more happens: start again when ready".to_string(),
            None,
        ),
    }
}

/// What to do after the engine refused a job by `rule`.
pub fn refusal_next(rule: Interlock) -> &'static str {
    match rule {
        Interlock::SameDisk => "Pick a different disk as the target.",
        Interlock::FailingTarget => {
            "Pick a healthy disk, or type \"failing\" after the name on the plan to use it anyway."
        }
        Interlock::TargetMounted => {
            "Unmount it, or pick another target (the live system mounts nothing by itself)."
        }
        Interlock::InUse => {
            "Something holds it open (RAID, LVM, swap): stop that, or pick another."
        }
        Interlock::BootMedium => "Pick an internal disk: the Wraith stick is never written.",
        Interlock::RepositoryOnTarget => {
            "Pick another target: the images are on this one (or copy them elsewhere first)."
        }
        Interlock::RepositoryOnSource => {
            "Save to a repository on another drive: plug in a USB drive or choose a share."
        }
        Interlock::TargetTooSmall => "Pick a larger disk.",
        Interlock::SectorSize => "Pick a disk with the same sector size as the source.",
        Interlock::NotARepository => {
            "Choose an empty or new directory, or the repository's own directory."
        }
        Interlock::ReadOnly => "Pick a writable disk (check a write-protect switch).",
    }
}

impl App {
    /// An error popup for the engine's `e` while doing `failed`, on the repository `at` if it
    /// was about one. A refusal gets the refusal popup with its rule.
    pub(super) fn failed(&mut self, failed: impl Into<String>, e: Error, at: Option<&str>) {
        if let Error::Refused { interlock, message } = e {
            self.popup = Some(Popup::Refused { interlock, message });
            return;
        }
        let (next, key) = next_step(&e, at);
        self.popup = Some(Popup::Error(Box::new(ErrorPopup {
            failed: failed.into(),
            message: e.to_string(),
            next,
            key,
        })));
    }

    /// An error the UI found itself (not the engine's), with its next step.
    pub(super) fn error_with(
        &mut self,
        failed: impl Into<String>,
        message: impl Into<String>,
        next: impl Into<String>,
        key: Option<NextKey>,
    ) {
        self.popup = Some(Popup::Error(Box::new(ErrorPopup {
            failed: failed.into(),
            message: message.into(),
            next: next.into(),
            key,
        })));
    }

    /// The key of an error popup: its next step when it offers that key, else just closed.
    pub(super) fn error_key(&mut self, e: ErrorPopup, c: Option<char>) {
        match (e.key, c) {
            (Some(NextKey::Password { at }), Some('p')) => {
                let Ok(loc) = Location::parse(&at) else {
                    return;
                };
                self.flow.creds = wraith_engine::repo::Credentials::none();
                self.screen = Screen::Password(PasswordPrompt::new(
                    at,
                    loc.display(),
                    loc.user().unwrap_or_default().to_string(),
                ));
            }
            (Some(NextKey::Network { at }), Some('n')) => {
                self.after_network = at;
                self.open_network();
            }
            (Some(NextKey::Type { at }), Some('t')) => {
                self.flow.typed = true;
                self.screen = Screen::RepoPath(TextInput::new(&at));
            }
            _ => {}
        }
    }
}

pub fn render(f: &mut Frame, area: Rect, e: &ErrorPopup) {
    let r = super::popup::centered(area, 70, 13);
    let lines = vec![
        Line::styled(e.failed.clone(), theme::warn()),
        Line::styled(e.message.clone(), theme::danger()),
        Line::raw(""),
        Line::styled(e.next.clone(), theme::normal()),
        Line::raw(""),
        Line::styled(
            e.key.as_ref().map_or(s::ERROR_KEYS, NextKey::keys_line),
            theme::title_style(),
        ),
    ];
    f.render_widget(Clear, r);
    f.render_widget(
        Paragraph::new(lines)
            .block(theme::block(s::ERROR_TITLE))
            .wrap(Wrap { trim: true }),
        r,
    );
}
