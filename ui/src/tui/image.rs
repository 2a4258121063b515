//! One image of a repository in detail: the disk it came from, its partition table, each
//! region with filesystem, label, how it was saved and the bytes it holds, and what it costs in
//! the repository. Verify and Browse (its files) start from here.

use super::plan::{self, Tone};
use super::{strings as s, theme};
use crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::Paragraph;
use ratatui::Frame;
use wraith_engine::human_bytes as hb;
use wraith_engine::repo::{self, manifest::Manifest, ImageRef};
use wraith_engine::table::TableKind;

#[derive(Clone, Debug)]
pub struct ImageDetails {
    pub image: ImageRef,
    pub manifest: Manifest,
    pub scroll: usize,
}

/// What a key on the image details asks for.
#[derive(Debug, PartialEq)]
pub enum DetailsKey {
    None,
    Back,
    Verify(ImageRef),
    /// Walk its files and copy some out.
    Browse,
}

impl ImageDetails {
    pub fn key(&mut self, k: &KeyEvent) -> DetailsKey {
        match k.code {
            KeyCode::Up | KeyCode::Char('k') => self.scroll = self.scroll.saturating_sub(1),
            KeyCode::Down | KeyCode::Char('j') => self.scroll += 1,
            KeyCode::PageUp => self.scroll = self.scroll.saturating_sub(10),
            KeyCode::PageDown => self.scroll += 10,
            KeyCode::Char('v') => return DetailsKey::Verify(self.image.clone()),
            KeyCode::Char('b') => return DetailsKey::Browse,
            KeyCode::Esc => return DetailsKey::Back,
            _ => {}
        }
        DetailsKey::None
    }
}

fn table_name(k: TableKind) -> &'static str {
    match k {
        TableKind::Gpt => "GPT",
        TableKind::Mbr => "MBR (DOS)",
        TableKind::None => s::NO_TABLE,
    }
}

pub fn lines(d: &ImageDetails) -> Vec<(Tone, String)> {
    let m = &d.manifest;
    let src = &m.source;
    let mut out = vec![
        (Tone::Head, format!("{:<13}{}", s::DETAIL_IMAGE, d.image)),
        (
            Tone::Normal,
            format!(
                "{:<13}{}",
                s::DETAIL_CREATED,
                repo::timestamp_text(m.created)
            ),
        ),
        (
            Tone::Normal,
            format!(
                "{:<13}{}  {} {}  {}",
                s::DETAIL_SOURCE,
                src.model.as_deref().unwrap_or(s::UNKNOWN_MODEL),
                s::SERIAL,
                src.serial.as_deref().unwrap_or("-"),
                hb(src.size)
            ),
        ),
        (
            Tone::Normal,
            format!(
                "{:<13}{}, {} {} B",
                s::DETAIL_TABLE,
                table_name(m.table.kind),
                s::SECTORS_OF,
                m.table.sector_size
            ),
        ),
        (
            Tone::Normal,
            format!(
                "{:<13}{} {}, {} {}, {} {}",
                s::DETAIL_BYTES,
                hb(m.stats.image_bytes),
                s::OF_DISK_DATA,
                hb(m.stats.stored_bytes),
                s::STORED,
                hb(m.stats.new_stored_bytes),
                s::NEW_WHEN_SAVED
            ),
        ),
    ];
    let regions: Vec<_> = m.regions.iter().map(|r| r.region.clone()).collect();
    out.extend(plan::region_lines(&regions));
    out
}

pub fn render(f: &mut Frame, area: Rect, d: &ImageDetails) {
    let all = lines(d);
    let first = d.scroll.min(all.len().saturating_sub(1));
    let shown: Vec<Line> = all[first..]
        .iter()
        .map(|(t, l)| {
            let style = match t {
                Tone::Head => theme::title_style(),
                _ => theme::normal(),
            };
            Line::styled(l.clone(), style)
        })
        .collect();
    f.render_widget(
        Paragraph::new(shown).block(theme::block(s::IMAGE_DETAILS)),
        area,
    );
}
