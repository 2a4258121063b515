//! What the CLI (and the TUI's summary) says after a clone or save of a failing disk: which ranges stayed unreadable,
//! in which partitions, which files of ext2/3/4 and NTFS partitions they hit, and where the
//! ddrescue mapfile is. The engine found them; this only
//! words them for people and for the JSON result.

use wraith_engine::extent::ExtentList;
use wraith_engine::human_bytes as hb;
use wraith_engine::pipeline::rescue;

/// The report for people, a line each: how much could not be read, where, which files, and
/// the mapfile. The CLI prints it; the TUI's summary of a partial job shows it.
pub fn lines(
    regions: &[wraith_engine::plan::Region],
    bad: &ExtentList,
    files: &[rescue::DamagedFiles],
    mapfile: Option<&str>,
) -> Vec<String> {
    let mut out = vec![format!(
        "WARNING: {} of the source could not be read ({} ranges); the copy holds zeros there:",
        hb(bad.total()),
        bad.len()
    )];
    out.extend(
        rescue::by_region(regions, bad)
            .into_iter()
            .map(|w| format!("  {w}")),
    );
    for d in files {
        out.extend(files_text(d).lines().map(String::from));
    }
    if let Some(m) = mapfile {
        out.push(format!("  GNU ddrescue mapfile: {m}"));
    }
    out
}

/// The files of one partition in the unreadable ranges, one per line, for the report.
fn files_text(d: &rescue::DamagedFiles) -> String {
    let mut out = format!("  files in {} ({}):\n", d.region, d.fs.name());
    for t in &d.files {
        out.push_str(&format!("    {}\n", t.label()));
    }
    if d.more > 0 {
        out.push_str(&format!("    … and {} more\n", d.more));
    }
    if d.files.is_empty() && d.notes.is_empty() {
        out.push_str("    none: the unreadable bytes hold no file's data or metadata\n");
    }
    for n in &d.notes {
        out.push_str(&format!("    note: {n}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use wraith_engine::fs::{FsKind, Touch, TouchKind};

    fn touch(path: &str, kind: TouchKind) -> Touch {
        Touch {
            path: path.into(),
            also: vec![],
            kind,
            bytes: 512,
        }
    }

    #[test]
    fn the_report_lists_each_file_marks_metadata_and_counts_the_rest() {
        let d = rescue::DamagedFiles {
            region_start: 1 << 20,
            region: "partition 2".into(),
            fs: FsKind::Ext4,
            files: vec![
                touch("/docs/a.txt", TouchKind::Data),
                touch("(directory /docs)", TouchKind::Metadata),
            ],
            more: 7,
            unclaimed: 0,
            notes: vec!["inode table of group 3 unreadable".into()],
        };
        assert_eq!(
            files_text(&d),
            "  files in partition 2 (ext4):\n    /docs/a.txt\n    (directory /docs) (metadata)\n    \
             … and 7 more\n    note: inode table of group 3 unreadable\n"
        );
        let none = rescue::DamagedFiles {
            files: vec![],
            more: 0,
            notes: vec![],
            ..d
        };
        assert!(
            files_text(&none).contains("none: "),
            "{}",
            files_text(&none)
        );
    }
}
