//! Small overlays: the engine's refusal, "cancel the running job?", a one-line note, and a
//! repository being opened or a job being prepared. Error popups are `advice.rs`.

use super::{strings as s, theme};
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Clear, Paragraph, Wrap};
use ratatui::Frame;

/// A `w`x`h` rectangle in the middle of `area`, clipped to it.
pub fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

/// One line over the bottom of `area`: what a background write did ("Remembered ...").
pub fn note(f: &mut Frame, area: Rect, text: &str) {
    if area.height < 3 {
        return;
    }
    let r = Rect::new(
        area.x + 1,
        area.y + area.height - 2,
        area.width.saturating_sub(2),
        1,
    );
    f.render_widget(Clear, r);
    f.render_widget(
        Paragraph::new(Line::styled(text.to_string(), theme::ok())),
        r,
    );
}

pub fn cancel_ask(f: &mut Frame, area: Rect) {
    let r = centered(area, 40, 3);
    f.render_widget(Clear, r);
    f.render_widget(
        Paragraph::new(Line::styled(s::CANCEL_QUESTION, theme::warn()))
            .block(theme::block(s::CANCEL_TITLE)),
        r,
    );
}

/// Over the screen a repository was asked for from: the location, and how long it has been.
pub fn opening(f: &mut Frame, area: Rect, o: &super::opening::Opening) {
    let r = centered(area, 70, 6);
    let lines = vec![
        Line::styled(format!("{} {}", s::OPENING, o.shown), theme::normal()),
        Line::raw(""),
        Line::styled(
            format!("waiting {} s. {}", o.waited, s::OPENING_WHY),
            theme::warn(),
        ),
    ];
    f.render_widget(Clear, r);
    f.render_widget(
        Paragraph::new(lines)
            .block(theme::block(s::OPENING_TITLE))
            .wrap(Wrap { trim: true }),
        r,
    );
}

/// Over the screen a job was chosen on while the engine checks it: what, and how long.
pub fn preparing(f: &mut Frame, area: Rect, p: &super::prepare::Preparing) {
    let r = centered(area, 70, 6);
    let lines = vec![
        Line::styled(format!("{} {}", s::PREPARING, p.what), theme::normal()),
        Line::raw(""),
        Line::styled(
            format!("waiting {} s. {}", p.waited, s::PREPARING_WHY),
            theme::warn(),
        ),
    ];
    f.render_widget(Clear, r);
    f.render_widget(
        Paragraph::new(lines)
            .block(theme::block(s::PREPARING_TITLE))
            .wrap(Wrap { trim: true }),
        r,
    );
}

/// The engine's refusal, in its words: the same the CLI prints after "refused: ".
pub fn refused(f: &mut Frame, area: Rect, message: &str, next: &str) {
    let r = centered(area, 70, 10);
    let lines = vec![
        Line::styled(message.to_string(), theme::danger()),
        Line::raw(""),
        Line::styled(format!("{} {next}", s::REFUSED_WHY), theme::normal()),
        Line::raw(""),
        Line::styled(s::ERROR_KEYS, theme::title_style()),
    ];
    f.render_widget(Clear, r);
    f.render_widget(
        Paragraph::new(lines)
            .block(theme::block(s::REFUSED_TITLE))
            .wrap(Wrap { trim: true }),
        r,
    );
}
