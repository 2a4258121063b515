//! Colours and borders that read well on the Linux VGA console and on serial terminals:
//! white/cyan/yellow/red on black, reversed video for the selection, and borders that are
//! either the console font's box-drawing characters or plain ASCII.

use ratatui::style::{Color, Modifier, Style};
use ratatui::symbols::border;
use ratatui::widgets::{Block, BorderType, Borders};
use std::sync::atomic::{AtomicBool, Ordering};

/// Set once at start from WRAITH_ASCII: some serial terminals show box-drawing bytes as garbage.
static ASCII: AtomicBool = AtomicBool::new(false);

pub fn set_ascii(on: bool) {
    ASCII.store(on, Ordering::Relaxed)
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
    if ASCII.load(Ordering::Relaxed) {
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
