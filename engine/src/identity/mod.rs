//! Giving each restored machine its own identity. A deployment restores one golden image onto
//! many machines; each must come up under its own name, with its own machine id and SSH host
//! keys, not as forty copies of the golden machine. After a restore (and after its
//! verification, which compares the target with the image), every Linux root and Windows
//! system on the target is edited ([`linux`], [`windows`]).
//!
//! It owns choosing the name (a template with `{serial}` / `{mac}`, or a table keyed by MAC or
//! serial number, as jobs give them) and those edits. It must not change anything else on the
//! target, and it puts no secrets anywhere: no domain join, no passwords in answer files.

pub mod linux;
pub mod windows;

use crate::device::{Device, ReadAt, Slice};
use crate::error::{Error, Result};
use crate::events::{Event, Sink};
use crate::fs::FsKind;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// How a deployment names its machines (a job's `hostname` and `[hostnames]`, the CLI's
/// `--hostname`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Naming {
    /// A name, or a template: `lab-{serial}`, `lab-{mac}`.
    pub template: Option<String>,
    /// Names by MAC address (any usual notation) or by serial number; a machine found here
    /// takes this name, whatever the template says.
    pub table: BTreeMap<String, String>,
}

impl Naming {
    pub fn is_empty(&self) -> bool {
        self.template.is_none() && self.table.is_empty()
    }
}

/// What a name can be made of: this machine's serial number and its network cards.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Facts {
    pub serial: Option<String>,
    /// The card the machine booted from first (PXE's `BOOTIF`), then the others by name.
    pub macs: Vec<[u8; 6]>,
}

impl Facts {
    /// This machine: the firmware's serial number, and its physical network cards.
    pub fn this_machine() -> Facts {
        let serial = crate::machine::this().and_then(|m| m.serial);
        let mut macs = Vec::new();
        // pxelinux's convention, which our iPXE script follows: BOOTIF=01-aa-bb-cc-dd-ee-ff
        // names the card the firmware booted from, the one a room's table is keyed by.
        if let Ok(cmdline) = std::fs::read_to_string("/proc/cmdline") {
            for word in cmdline.split_whitespace() {
                if let Some(v) = word.strip_prefix("BOOTIF=") {
                    if let Some(mac) = parse_mac(v.strip_prefix("01-").unwrap_or(v)) {
                        macs.push(mac);
                    }
                }
            }
        }
        let mut cards: Vec<(String, [u8; 6])> = Vec::new();
        if let Ok(rd) = std::fs::read_dir("/sys/class/net") {
            for ent in rd.flatten() {
                let dir = ent.path();
                // Only cards with a device behind them: not lo, bridges, bonds or tunnels.
                if !dir.join("device").exists() {
                    continue;
                }
                let addr = std::fs::read_to_string(dir.join("address")).unwrap_or_default();
                if let Some(mac) = parse_mac(addr.trim()).filter(|m| m != &[0; 6]) {
                    cards.push((ent.file_name().to_string_lossy().into_owned(), mac));
                }
            }
        }
        cards.sort();
        for (_, mac) in cards {
            if !macs.contains(&mac) {
                macs.push(mac);
            }
        }
        Facts { serial, macs }
    }

    fn describe(&self) -> String {
        let macs: Vec<String> = self.macs.iter().map(mac_text).collect();
        format!(
            "MAC {}, serial {}",
            if macs.is_empty() {
                "unknown".to_string()
            } else {
                macs.join(" / ")
            },
            self.serial.as_deref().unwrap_or("unknown")
        )
    }
}

/// `aa:bb:cc:dd:ee:ff`, `AA-BB-CC-DD-EE-FF`, `aabb.ccdd.eeff` or `aabbccddeeff`.
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let hex: String = s
        .chars()
        .filter(|c| !matches!(c, ':' | '-' | '.'))
        .collect();
    if hex.len() != 12 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let mut out = [0u8; 6];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// `aa:bb:cc:dd:ee:ff`.
pub fn mac_text(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The name this machine gets: its entry in the table, else the template filled in.
pub fn resolve(naming: &Naming, facts: &Facts) -> Result<String> {
    let by_mac = naming
        .table
        .iter()
        .find(|(k, _)| parse_mac(k).is_some_and(|m| facts.macs.contains(&m)));
    let by_serial = || {
        naming.table.iter().find(|(k, _)| {
            facts
                .serial
                .as_deref()
                .is_some_and(|s| s.trim().eq_ignore_ascii_case(k.trim()))
        })
    };
    let name = match by_mac.or_else(by_serial) {
        Some((_, name)) => name.clone(),
        None => match &naming.template {
            Some(t) => fill(t, facts)?,
            None => {
                return Err(Error::Invalid(format!(
                    "this machine ({}) is not in the job's hostnames table, and the job has \
                     no hostname template for machines that are not",
                    facts.describe()
                )))
            }
        },
    };
    check_hostname(&name)?;
    Ok(name)
}

fn fill(template: &str, facts: &Facts) -> Result<String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let Some(close) = rest[open..].find('}') else {
            return Err(Error::Invalid(format!(
                "hostname template {template:?}: '{{' without '}}'"
            )));
        };
        let key = &rest[open + 1..open + close];
        match key {
            "serial" => {
                let serial = facts.serial.as_deref().ok_or_else(|| {
                    Error::Invalid(format!(
                        "hostname template {template:?} uses {{serial}}, but this machine's \
                         firmware gives no serial number: name it by {{mac}} or in a table"
                    ))
                })?;
                out.push_str(&host_part(serial));
            }
            "mac" => {
                let mac = facts.macs.first().ok_or_else(|| {
                    Error::Invalid(format!(
                        "hostname template {template:?} uses {{mac}}, but this machine has no \
                         network card with an address"
                    ))
                })?;
                out.push_str(&mac.iter().map(|b| format!("{b:02x}")).collect::<String>());
            }
            other => {
                return Err(Error::Invalid(format!(
                "hostname template {template:?}: unknown {{{other}}} (use {{serial}} or {{mac}})"
            )))
            }
        }
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// A serial number as it can stand in a host name: lower case, runs of anything but letters
/// and digits as one '-'.
fn host_part(s: &str) -> String {
    let mut out = String::new();
    for c in s.trim().chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_string()
}

/// A host name every system takes: one DNS label (RFC 1123), letters, digits and '-', not
/// starting or ending with '-', at most 63 characters.
pub fn check_hostname(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "{name:?} is not a host name: use 1 to 63 letters, digits and '-', not at either end"
        )))
    }
}

/// What was changed on one partition.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Named {
    pub partition: u32,
    /// "Debian GNU/Linux 12 (bookworm)", "Windows".
    pub system: String,
    pub changes: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// Names every Linux root and Windows system on the restored disk (or disk image file)
/// `target`. Partitions holding neither are left alone; none found is a warning, not an error
/// (the image may hold only data).
pub fn apply(target: &Path, name: &str, sink: &dyn Sink) -> Result<Vec<Named>> {
    check_hostname(name)?;
    let dev = Device::open_read(target)?;
    let table = crate::table::read(&dev, dev.sector_size())?;
    let mut parts: Vec<(u32, u64, u64)> = table
        .partitions
        .iter()
        .filter(|p| !p.type_name.to_ascii_lowercase().contains("extended"))
        .map(|p| (p.number, p.start, p.len))
        .collect();
    if table.kind == crate::table::TableKind::None {
        // A filesystem on the whole disk (a superfloppy).
        parts.push((0, 0, dev.size()));
    }
    let mut kinds = Vec::new();
    for (number, start, len) in parts {
        let slice = Slice {
            dev: &dev as &dyn ReadAt,
            offset: start,
            len,
        };
        if let Ok(Some(info)) = crate::fs::probe(&slice) {
            kinds.push((number, start, len, info.kind));
        }
    }
    drop(dev);
    sink.event(Event::Started {
        step: "name".into(),
        total: kinds.len() as u64,
    });
    let mut done = Vec::new();
    let total = kinds.len() as u64;
    for (i, (number, start, len, kind)) in kinds.into_iter().enumerate() {
        sink.event(Event::Progress {
            done: i as u64,
            total,
        });
        if !matches!(
            kind,
            FsKind::Ext2 | FsKind::Ext3 | FsKind::Ext4 | FsKind::Ntfs
        ) {
            continue;
        }
        let lo = crate::loopdev::LoopDev::attach(target, start, len)?;
        let (point, mounted) =
            crate::mount::mount_device(lo.path(), &format!("identity-{}", std::process::id()))
                .map_err(|e| {
                    Error::Invalid(format!(
                        "naming the machine: partition {number} ({}) could not be mounted: {e}",
                        kind.name()
                    ))
                })?;
        let found = if kind == FsKind::Ntfs {
            windows::name(&point, name)
        } else {
            linux::name(&point, name)
        };
        // Unmounted now, not lazily: the machine may power off right after the job.
        let unmounted = match mounted {
            Some(m) => m.unmount(),
            None => Ok(()),
        };
        let found = found.map_err(|e| {
            Error::Invalid(format!(
                "naming the machine {name}: partition {number} ({}): {e}",
                kind.name()
            ))
        })?;
        unmounted?;
        drop(lo);
        if let Some((system, changes, warnings)) = found {
            for w in &warnings {
                sink.event(Event::Warning {
                    message: format!("partition {number} ({system}): {w}"),
                });
            }
            done.push(Named {
                partition: number,
                system,
                changes,
                warnings,
            });
        }
    }
    sink.event(Event::Finished {
        step: "name".into(),
    });
    if done.is_empty() {
        sink.event(Event::Warning {
            message: format!(
                "no Linux root or Windows system found on {}: nothing was named {name}",
                target.display()
            ),
        });
    }
    Ok(done)
}

/// `rel` under the mounted root `root`, as long as no part of it is a symbolic link: a
/// restored system's absolute links point into this machine's own /etc, never to be touched.
pub(crate) fn inside(root: &Path, rel: &str) -> Option<std::path::PathBuf> {
    let mut p = root.to_path_buf();
    for part in rel.split('/').filter(|s| !s.is_empty()) {
        p.push(part);
        if std::fs::symlink_metadata(&p).is_ok_and(|m| m.file_type().is_symlink()) {
            return None;
        }
    }
    Some(p)
}

/// The entry of `dir` named `name`, compared without case (NTFS keeps case but Windows
/// ignores it; a mount may or may not).
pub(crate) fn find_ci(dir: &Path, name: &str) -> Option<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .find(|e| e.file_name().to_string_lossy().eq_ignore_ascii_case(name))
        .map(|e| e.path())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> Facts {
        Facts {
            serial: Some("PF1A BC/42".into()),
            macs: vec![[0x52, 0x54, 0, 0x12, 0x34, 0x56], [2, 0, 0, 0, 0, 1]],
        }
    }

    #[test]
    fn templates_fill_in_the_machine() {
        let n = |t: &str| Naming {
            template: Some(t.into()),
            table: BTreeMap::new(),
        };
        assert_eq!(
            resolve(&n("lab-{serial}"), &facts()).unwrap(),
            "lab-pf1a-bc-42"
        );
        assert_eq!(
            resolve(&n("pc-{mac}"), &facts()).unwrap(),
            "pc-525400123456"
        );
        assert_eq!(resolve(&n("fixed"), &facts()).unwrap(), "fixed");
        let no_serial = Facts {
            serial: None,
            ..facts()
        };
        let e = resolve(&n("lab-{serial}"), &no_serial).unwrap_err();
        assert!(e.to_string().contains("no serial number"), "{e}");
        assert!(resolve(&n("lab-{room}"), &facts()).is_err());
        assert!(resolve(&n("lab_{serial}"), &facts()).is_err());
        assert!(resolve(&n("lab-{serial"), &facts()).is_err());
    }

    #[test]
    fn a_table_wins_by_any_card_or_serial() {
        let mut table = BTreeMap::new();
        table.insert("02-00-00-00-00-01".to_string(), "second-card".to_string());
        table.insert("other".to_string(), "nobody".to_string());
        let naming = Naming {
            template: Some("lab-{mac}".into()),
            table,
        };
        assert_eq!(resolve(&naming, &facts()).unwrap(), "second-card");
        let mut by_serial = naming.clone();
        by_serial.table.clear();
        by_serial
            .table
            .insert("pf1a bc/42".to_string(), "by-serial".to_string());
        assert_eq!(resolve(&by_serial, &facts()).unwrap(), "by-serial");
        // Not in the table and no template: refused, naming the machine.
        let strict = Naming {
            template: None,
            table: by_serial.table.clone(),
        };
        let other = Facts {
            serial: Some("ZZZ".into()),
            macs: vec![[1, 2, 3, 4, 5, 6]],
        };
        let e = resolve(&strict, &other).unwrap_err().to_string();
        assert!(e.contains("01:02:03:04:05:06") && e.contains("ZZZ"), "{e}");
    }

    #[test]
    fn macs_in_every_notation() {
        let m = Some([0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff]);
        assert_eq!(parse_mac("aa:bb:cc:dd:ee:ff"), m);
        assert_eq!(parse_mac("AA-BB-CC-DD-EE-FF"), m);
        assert_eq!(parse_mac("aabb.ccdd.eeff"), m);
        assert_eq!(parse_mac("aabbccddeeff"), m);
        assert_eq!(parse_mac("aabbccddee"), None);
        assert_eq!(parse_mac("gg:bb:cc:dd:ee:ff"), None);
    }
}
