//! Colours and borders that read well on the Linux VGA console and on serial terminals:
//! white/cyan/yellow/red/green on black (the eight colours every console has, plus dark grey
//! for refused items, which the VGA console shows as "bright black"), reversed video for the
//! selection, and borders that are either the console font's box-drawing characters or ASCII.
//!
//! Text itself is ASCII everywhere (strings.rs): no ellipsis, arrows or block glyphs, which the
//! Linux console's 512-glyph font may lack and a serial terminal may not decode.

use ratatui::style::{Color, Modifier, Style};
use ratatui::symbols::border;
use ratatui::widgets::{Block, BorderType, Borders};
use std::cell::Cell;

thread_local! {
    /// Per thread so snapshot tests of both border styles can run in parallel; the UI draws
    /// from one thread, which sets it once at start.
    static ASCII: Cell<bool> = const { Cell::new(false) };
}

pub fn set_ascii(on: bool) {
    ASCII.with(|a| a.set(on))
}

/// Whether to draw borders in ASCII, decided from the environment.
///
/// - `WRAITH_ASCII=1` / `=0` forces either.
/// - `TERM=linux` (the VGA/framebuffer console): box drawing. The kernel console is in UTF-8
///   mode by default and its built-in font maps the single-line box characters.
/// - `TERM=vt100`/`vt102`/`vt220`/`dumb` (what wraith-init sets on a serial console), or
///   no TERM: ASCII. Whatever is at the other end of the line (a real terminal, minicom,
///   a console server) may not decode UTF-8, and `+-|` never turns into garbage.
/// - Otherwise (xterm and friends on a host): box drawing, unless the locale says the
///   terminal is not UTF-8 (LC_ALL / LC_CTYPE / LANG set to something without UTF-8).
pub fn want_ascii(forced: Option<&str>, term: Option<&str>, locale: Option<&str>) -> bool {
    if let Some(f) = forced {
        return f != "0";
    }
    match term.unwrap_or("") {
        "linux" => false,
        "" | "dumb" | "vt100" | "vt102" | "vt220" => true,
        _ => locale.is_some_and(|l| {
            let l = l.to_ascii_lowercase();
            !l.is_empty() && !l.contains("utf-8") && !l.contains("utf8")
        }),
    }
}

/// `want_ascii` for this process.
pub fn ascii_from_env() -> bool {
    let var = |k: &str| std::env::var(k).ok();
    // The first of these that is set and non-empty is the locale in effect (POSIX order).
    let locale = ["LC_ALL", "LC_CTYPE", "LANG"]
        .iter()
        .find_map(|k| var(k).filter(|v| !v.is_empty()));
    want_ascii(
        var("WRAITH_ASCII").as_deref(),
        var("TERM").as_deref(),
        locale.as_deref(),
    )
}

const ASCII_SET: border::Set = border::Set {
    top_left: "+",
    top_right: "+",
    bottom_left: "+",
    bottom_right: "+",
    vertical_left: "|",
    vertical_right: "|",
    horizontal_top: "-",
    horizontal_bottom: "-",
};

pub fn block(title: &str) -> Block<'_> {
    let b = Block::default()
        .borders(Borders::ALL)
        .title(title)
        .title_style(title_style())
        .border_style(Style::default().fg(Color::Cyan));
    if ASCII.with(|a| a.get()) {
        b.border_set(ASCII_SET)
    } else {
        b.border_type(BorderType::Plain)
    }
}

pub fn normal() -> Style {
    Style::default().fg(Color::White)
}
pub fn title_style() -> Style {
    Style::default()
        .fg(Color::Cyan)
        .add_modifier(Modifier::BOLD)
}
pub fn selected() -> Style {
    Style::default().add_modifier(Modifier::REVERSED)
}
pub fn disabled() -> Style {
    Style::default().fg(Color::DarkGray)
}
pub fn warn() -> Style {
    Style::default().fg(Color::Yellow)
}
pub fn danger() -> Style {
    Style::default().fg(Color::Red).add_modifier(Modifier::BOLD)
}
pub fn ok() -> Style {
    Style::default()
        .fg(Color::Green)
        .add_modifier(Modifier::BOLD)
}
pub fn keys() -> Style {
    Style::default().fg(Color::Black).bg(Color::Cyan)
}
