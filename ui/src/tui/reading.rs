//! Reading the source disk: its partition table and filesystems take seconds on a big or slow
//! disk, so a worker reads them while this screen says so, and Esc goes back meanwhile.

use super::app::{App, Msg, Screen};
use super::menu::Action;
use super::plan;
use super::{strings as s, theme};
use crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;
use wraith_engine::device::Device;
use wraith_engine::disks::DiskInfo;
use wraith_engine::plan::Plan;

/// The disk a clone or save reads, with its plan: the target list greys disks too small for
/// it. The engine reads it again when it prepares the job (and checks it then).
pub struct Source {
    pub disk: DiskInfo,
    pub plan: Plan,
}

/// Reads the source's table and filesystems: seconds on a big or slow disk, so never on the
/// UI thread.
pub fn read_source(disk: DiskInfo) -> wraith_engine::Result<Source> {
    let dev = Device::open_read(std::path::Path::new(&disk.path))?;
    let plan = wraith_engine::plan::plan(&dev, dev.identity.clone())?;
    Ok(Source { disk, plan })
}

/// What a key while reading asks for.
#[derive(Debug, PartialEq)]
pub enum ReadingKey {
    None,
    Back,
}

pub fn key(k: &KeyEvent) -> ReadingKey {
    match k.code {
        KeyCode::Esc => ReadingKey::Back,
        _ => ReadingKey::None,
    }
}

impl App {
    /// Starts the worker that reads `d`; its answer comes back as `Msg::Planned`.
    pub(super) fn picked_source(&mut self, d: DiskInfo) {
        self.screen = Screen::Reading(plan::disk_text(&d));
        let tx = self.tx.clone();
        std::thread::spawn(move || {
            let _ = tx.send(Msg::Planned(Box::new(read_source(d))));
        });
    }

    /// The source is read: on to the repository (a save) or the target (a clone).
    pub(super) fn planned(&mut self, r: wraith_engine::Result<Source>) {
        let Screen::Reading(what) = &self.screen else {
            return; // the user went back meanwhile
        };
        let what = format!("{} {what}", s::ERR_READ_SOURCE);
        let src = match r {
            Ok(src) => src,
            Err(e) => {
                self.back();
                return self.failed(what, e, None);
            }
        };
        self.flow.source = Some(src);
        match self.flow.action {
            // The source is read: the list offers new repositories with room for it.
            Some(Action::Save) => self.choose_repo(),
            _ => self.pick_target(),
        }
    }
}

/// While a worker reads the source disk's table and filesystems.
pub fn render(f: &mut Frame, area: Rect, what: &str) {
    let lines = vec![
        Line::styled(format!("{} {what}", s::READING), theme::title_style()),
        Line::raw(""),
        Line::styled(s::READING_WHY, theme::normal()),
    ];
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(theme::block(s::PLAN_TITLE)),
        area,
    );
}
