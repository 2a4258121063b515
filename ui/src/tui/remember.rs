//! Remembering a share: once a network repository opened in a flow, the technician is asked
//! once whether to keep it in the list on the stick (`ops::known::remember`), so the next boot
//! offers it without typing. `p` keeps its password too, after a warning that says who can
//! read it there. Only where a list can be kept (the stick's data partition; a host's
//! ~/.config/wraith).

use super::app::{App, Msg, Popup};
use super::{strings as s, theme};
use crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Clear, Paragraph, Wrap};
use ratatui::Frame;
use wraith_engine::ops::known;
use wraith_engine::repo::location;

/// The question over the image list or the plan.
#[derive(Clone, Debug, PartialEq)]
pub struct RememberAsk {
    /// The location as opened (a URL without password).
    pub at: String,
    pub shown: String,
    /// A password was typed for this flow: `p` may keep it.
    pub password: bool,
    /// `p` was pressed: the warning about where the password goes shows.
    pub warning: bool,
    /// Where the list is, as said in the question and the warning.
    pub on_stick: bool,
    pub fat: bool,
    pub dir: String,
}

/// What a key on the question asks for.
#[derive(Debug, PartialEq)]
pub enum RememberKey {
    None,
    No,
    Remember { with_password: bool },
}

impl RememberAsk {
    pub fn key(&mut self, k: &KeyEvent) -> RememberKey {
        match (k.code, self.warning) {
            (KeyCode::Char('y') | KeyCode::Char('Y'), false) => RememberKey::Remember {
                with_password: false,
            },
            (KeyCode::Char('p') | KeyCode::Char('P'), false) if self.password => {
                self.warning = true;
                RememberKey::None
            }
            (KeyCode::Char('y') | KeyCode::Char('Y'), true) => RememberKey::Remember {
                with_password: true,
            },
            (KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Esc, _) => RememberKey::No,
            _ => RememberKey::None,
        }
    }
}

impl App {
    /// Asks once whether to remember the share just opened, where a list can be kept and it
    /// is not known already.
    pub(super) fn offer_remember(&mut self) {
        let Some(stick) = &self.stick else {
            return;
        };
        let at = self.flow.repo_at();
        if !location::is_url(&at) || self.flow.from_known || self.remember_asked.contains(&at) {
            return;
        }
        let known = self
            .found_cache
            .as_ref()
            .is_some_and(|c| c.known.iter().any(|k| k.at == at));
        if known {
            return;
        }
        self.remember_asked.push(at.clone());
        self.popup = Some(Popup::Remember(RememberAsk {
            shown: super::opening::shown_location(&at),
            at,
            password: self.flow.creds.password.is_some(),
            warning: false,
            on_stick: stick.on_stick,
            fat: stick.fat,
            dir: stick.path.display().to_string(),
        }));
    }

    pub(super) fn remember_key(&mut self, r: RememberKey) {
        let Some(Popup::Remember(ask)) = &self.popup else {
            return;
        };
        match r {
            RememberKey::None => {}
            RememberKey::No => self.popup = None,
            RememberKey::Remember { with_password } => {
                let at = ask.at.clone();
                self.popup = None;
                let Some(dir) = self.stick.as_ref().map(|s| s.path.clone()) else {
                    return;
                };
                let password = with_password
                    .then(|| self.flow.creds.password.clone())
                    .flatten();
                let tx = self.tx.clone();
                std::thread::spawn(move || {
                    let shown = super::opening::shown_location(&at);
                    let result = match known::remember(&dir, &at, password.as_ref()) {
                        Ok(r) if r.passwords.is_some() => Ok(format!(
                            "{} {shown} {}",
                            s::REMEMBERED,
                            s::REMEMBERED_WITH_PASSWORD
                        )),
                        Ok(_) => Ok(format!("{} {shown}", s::REMEMBERED)),
                        Err(e) => Err(format!("{} {shown}: {e}", s::NOT_REMEMBERED)),
                    };
                    let _ = tx.send(Msg::StickWritten {
                        forgot: None,
                        result,
                    });
                });
            }
        }
    }
}

pub fn render(f: &mut Frame, area: Rect, a: &RememberAsk) {
    let r = super::popup::centered(area, 72, 10);
    let (title, lines) = if a.warning {
        let who = match (a.on_stick, a.fat) {
            (true, true) => s::REMEMBER_WARN_FAT,
            (true, false) => s::REMEMBER_WARN_STICK,
            (false, _) => s::REMEMBER_WARN_HOST,
        };
        (
            s::REMEMBER_WARN_TITLE,
            vec![
                Line::styled(s::REMEMBER_WARN, theme::normal()),
                Line::styled(who, theme::warn()),
                Line::raw(""),
                Line::styled(s::REMEMBER_WARN_KEYS, theme::title_style()),
            ],
        )
    } else {
        let question = if a.on_stick {
            s::REMEMBER_ON_STICK.to_string()
        } else {
            format!("{} {}?", s::REMEMBER_IN, a.dir)
        };
        (
            s::REMEMBER_TITLE,
            vec![
                Line::styled(a.shown.clone(), theme::title_style()),
                Line::styled(question, theme::warn()),
                Line::styled(s::REMEMBER_WHY, theme::normal()),
                Line::raw(""),
                Line::styled(
                    if a.password {
                        s::REMEMBER_KEYS
                    } else {
                        s::REMEMBER_KEYS_NO_PASSWORD
                    },
                    theme::title_style(),
                ),
            ],
        )
    };
    f.render_widget(Clear, r);
    f.render_widget(
        Paragraph::new(lines)
            .block(theme::block(title))
            .wrap(Wrap { trim: true }),
        r,
    );
}
