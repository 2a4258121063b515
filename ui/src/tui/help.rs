//! `?` on every screen: a popup listing each key of the screen in front with one line of what
//! it does; any key closes it. Where a text field takes the keys (a path, a password, the
//! target's name, a network address) `?` is typed like any character, and F1 opens the help.

use super::app::{App, Popup, Screen};
use super::strings::{self as s, KeyHelp};
use super::theme;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Clear, Paragraph, Wrap};
use ratatui::Frame;

/// The help of one screen, as shown.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Help {
    pub title: &'static str,
    pub keys: KeyHelp,
    /// Opened with F1 on a screen where `?` is typed: the popup says so.
    pub typing: bool,
}

impl App {
    /// Whether the keys of the screen in front go into a text field.
    pub fn typing(&self) -> bool {
        match &self.screen {
            Screen::RepoPath(_) | Screen::Password(_) => true,
            Screen::Plan(p) => p.confirm.is_some(),
            Screen::Network(n) => n.form.is_some(),
            _ => false,
        }
    }

    /// Whether `k` asks for the help here: F1 anywhere, `?` where it is not typed.
    pub fn is_help_key(&self, k: &KeyEvent) -> bool {
        let question = k.code == KeyCode::Char('?') && !k.modifiers.contains(KeyModifiers::CONTROL);
        k.code == KeyCode::F(1) || (question && !self.typing())
    }

    /// The keys of what is in front: an overlay, a popup, else the screen.
    pub fn keys_help(&self) -> Help {
        let typing = self.typing();
        let (title, keys) = if self.opening.is_some() || self.preparing.is_some() {
            (s::OPENING_TITLE, s::HELP_WAITING)
        } else {
            match (&self.popup, &self.screen) {
                (Some(Popup::Menu(_)), _) => (s::ACTIONS, s::HELP_MENU),
                (Some(Popup::Remember(_)), _) => (s::REMEMBER_TITLE, s::HELP_REMEMBER),
                (_, Screen::Home) => (s::HOME, s::HELP_HOME),
                (_, Screen::PickDisk(p)) => (p.title, s::HELP_PICK),
                (_, Screen::Repos(l)) => (l.title(), s::HELP_REPOS),
                (_, Screen::RepoPath(_)) => (s::REPO_PROMPT, s::HELP_TYPE),
                (_, Screen::WaitNet(_)) => (s::WAITNET_TITLE, s::HELP_WAITNET),
                (_, Screen::Password(_)) => (s::PASSWORD_TITLE, s::HELP_PASSWORD),
                (_, Screen::Network(n)) if n.form.is_some() => (s::NETWORK, s::HELP_NET_FORM),
                (_, Screen::Network(_)) => (s::NETWORK, s::HELP_NET),
                (_, Screen::Images(_)) => (s::IMAGES, s::HELP_IMAGES),
                (_, Screen::ImageInfo(..)) => (s::IMAGE_DETAILS, s::HELP_DETAILS),
                (_, Screen::Reading(_)) => (s::PLAN_TITLE, s::HELP_READING),
                (_, Screen::Plan(p)) if p.confirm.is_some() => (s::PLAN_TITLE, s::HELP_PLAN),
                (_, Screen::Plan(_)) => (s::PLAN_TITLE, s::HELP_START),
                (_, Screen::Running(_)) => (s::LOG, s::HELP_RUN),
                (_, Screen::Summary(_)) => (s::SUMMARY_OK, s::HELP_SUMMARY),
                (_, Screen::SaveLog(_)) => (s::LOG_SAVE_TITLE, s::HELP_SAVE_LOG),
                (_, Screen::Browse(b)) => (s::BROWSE_TITLE, super::browse::help(b)),
            }
        };
        Help {
            title,
            keys,
            typing,
        }
    }
}

pub fn render(f: &mut Frame, area: Rect, h: &Help) {
    let mut lines: Vec<Line> = h
        .keys
        .iter()
        .map(|(k, what)| Line::styled(format!(" {k:<19} {what}"), theme::normal()))
        .collect();
    lines.push(Line::raw(""));
    if h.typing {
        lines.push(Line::styled(
            format!(" {}", s::HELP_TEXT_FIELD),
            theme::warn(),
        ));
    }
    lines.push(Line::styled(
        format!(" {}", s::HELP_CLOSE),
        theme::title_style(),
    ));
    let height = lines.len() as u16 + 2;
    let r = super::popup::centered(area, 76, height);
    f.render_widget(Clear, r);
    f.render_widget(
        Paragraph::new(lines)
            .block(theme::block(&format!("{} - {}", s::HELP_TITLE, h.title)))
            .wrap(Wrap { trim: false }),
        r,
    );
}
