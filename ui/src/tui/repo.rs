//! The repository: its directory typed in a field, and the list of images it holds.

use super::confirm::{self, TextInput};
use super::{strings as s, theme};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::Paragraph;
use ratatui::Frame;
use wraith_engine::human_bytes as hb;
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
