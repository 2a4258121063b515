//! Deciding, before anything is written, how a disk's partitions fit a target of another size:
//! which partitions keep their size (boot and recovery partitions, filesystems that cannot be
//! resized), which grow or shrink and with which tool, and where a shrink that cannot happen on
//! the target itself gets its scratch space. A restore and a clone decide it the same way, from
//! the plan's regions (for a restore: the image's). What cannot be done is refused here, with
//! the reason, so the target is untouched.

use crate::device::{Device, ReadAt};
use crate::error::{Error, Interlock, Result};
use crate::layout::{self, Input, Policy};
use crate::pipeline::reshape::{How, Reshape, Step};
use crate::plan::{Region, RegionKind};
use crate::table::{Partition, PartitionTable, TableKind};
use std::path::{Path, PathBuf};

/// What the user asked for: a policy, the partition to grow, where scratch files may go.
#[derive(Clone, Debug, Default)]
pub struct LayoutChoice {
    pub policy: Policy,
    /// `--grow N`: the partition that takes the new space.
    pub grow: Option<u32>,
    /// `--scratch DIR`: where a shrink that does not fit on the target is staged. By default
    /// the repository's directory (a restore from a local drive), then the temporary directory.
    pub scratch: Option<PathBuf>,
}

/// GPT type GUIDs and MBR types of partitions that keep their size whatever the policy:
/// firmware and Windows expect them as they were made.
fn fixed_role(p: &Partition) -> Option<&'static str> {
    match p.type_id.to_ascii_lowercase().as_str() {
        "c12a7328-f81f-11d2-ba4b-00a0c93ec93b" | "0xef" => Some("EFI system partition"),
        "e3c9e316-0b5c-4db8-817d-f92df00215ae" => Some("Microsoft reserved partition"),
        "de94bba4-06d1-4d40-a16a-bfd50179d6ac" | "0x27" => Some("recovery partition"),
        "21686148-6449-6e6f-744e-656564454649" => Some("BIOS boot partition"),
        _ => None,
    }
}

/// What [`decide`] found: the reshape to run, if any, and a remark for the plan's warnings
/// when `auto` had to leave a larger disk's new space unused.
#[derive(Debug, Default)]
pub struct Decision {
    /// None when the layout stays as saved (then the target must be at least as large as the
    /// source's partitions, as before).
    pub reshape: Option<Reshape>,
    pub note: Option<String>,
}

/// How the source's partitions are laid out on `target` (see [`Decision`]). `source_size` is
/// the whole source disk's: `auto` grows only onto a disk larger than it (a disk of the same
/// size gets an identical copy, free tail and all) and shrinks only what does not fit.
pub fn decide(
    table: &PartitionTable,
    regions: &[Region],
    source_size: u64,
    target: &Device,
    choice: &LayoutChoice,
    scratch_dirs: &[PathBuf],
) -> Result<Decision> {
    let reshape = |r| {
        Ok(Decision {
            reshape: r,
            note: None,
        })
    };
    let same_size = target.size() <= source_size && target.size() >= table.min_disk_size;
    if choice.policy == Policy::Auto && same_size {
        return reshape(None);
    }
    if table.kind == TableKind::None || choice.policy == Policy::Keep {
        if choice.policy != Policy::Keep && choice.policy != Policy::Auto {
            return Err(Error::refused(
                Interlock::TargetTooSmall,
                format!(
                    "layout {}: the source has no partition table, so it is copied whole and keeps its size",
                    choice.policy
                ),
            ));
        }
        return reshape(None);
    }
    let ss = table.sector_size;
    let (inputs, tools, end_reserve) = inputs_of(table, regions);
    let laid = layout::lay_out(
        table.kind,
        ss,
        &inputs,
        target.size(),
        end_reserve,
        choice.policy,
        choice.grow,
    )?;
    let unchanged = laid
        .parts
        .iter()
        .all(|p| p.new_start == p.old_start && p.new_len == p.old_len);
    if laid.policy == Policy::Keep || unchanged {
        return reshape(None);
    }
    // Resizing runs the real tools on loop devices: where that cannot happen (a host without
    // root or without the tool), `auto` keeps a larger disk's layout and says so; anything
    // else is refused before a byte is written.
    for placed in laid.parts.iter().filter(|p| p.new_len != p.old_len) {
        let tool = inputs
            .iter()
            .position(|x| x.number == placed.number)
            .map_or("", |i| tools[i]);
        let Some(why) = crate::resize::unavailable(tool) else {
            continue;
        };
        let change = format!(
            "partition {} would be resized from {} to {} by {tool}, but {why}",
            placed.number,
            crate::human_bytes(placed.old_len),
            crate::human_bytes(placed.new_len)
        );
        return match (choice.policy, laid.policy) {
            (Policy::Auto, Policy::Grow) => Ok(Decision {
                reshape: None,
                note: Some(format!(
                    "the partitions keep their saved sizes and the target's extra space stays unused: {change}"
                )),
            }),
            (_, Policy::Fit) => Err(Error::refused(
                Interlock::TargetTooSmall,
                format!("the target is smaller than the saved partitions: {change}"),
            )),
            (_, policy) => Err(Error::Unsupported(format!(
                "layout {policy}: {change}; use --layout keep"
            ))),
        };
    }
    let mut steps = Vec::new();
    let mut scratch_bytes = 0;
    for placed in &laid.parts {
        let i = inputs
            .iter()
            .position(|x| x.number == placed.number)
            .ok_or_else(|| {
                Error::Invalid(format!("layout names partition {} twice", placed.number))
            })?;
        let region = regions.iter().find(|r| {
            r.kind
                == (RegionKind::Partition {
                    number: placed.number,
                })
        });
        let how = if placed.new_len == placed.old_len {
            How::Copy
        } else if placed.new_len > placed.old_len {
            How::Grow
        } else if placed.new_start + placed.old_len <= target.size() {
            How::ShrinkInPlace
        } else {
            // The filesystem at its old size, in a sparse file: its used bytes, and the bytes
            // the tool moves below the new end (written to holes of that file).
            let beyond = region.map_or(0, |r| {
                r.used.covered(
                    placed.old_start + placed.new_len,
                    placed.old_start + placed.old_len,
                )
            });
            let need = inputs[i].used.saturating_add(beyond);
            let dir = pick_scratch(choice, scratch_dirs, need).map_err(|why| {
                Error::refused(
                    Interlock::TargetTooSmall,
                    format!(
                        "partition {} shrinks from {} to {}, but its used blocks reach past the new end and the target has no free space to shrink it in: it needs {} of scratch space ({why}); choose a directory with --scratch",
                        placed.number,
                        crate::human_bytes(placed.old_len),
                        crate::human_bytes(placed.new_len),
                        crate::human_bytes(need)
                    ),
                )
            })?;
            scratch_bytes = scratch_bytes.max(need);
            How::ShrinkStaged { dir }
        };
        let tool = match how {
            How::Copy => None,
            _ => Some(tools[i].to_string()),
        };
        steps.push(Step {
            number: placed.number,
            old_start: placed.old_start,
            old_len: placed.old_len,
            new_start: placed.new_start,
            new_len: placed.new_len,
            used: inputs[i].used,
            tool,
            how,
        });
    }
    reshape(Some(Reshape {
        policy: laid.policy.to_string(),
        steps,
        scratch_bytes,
    }))
}

/// The layout's view of each partition (by start), the tool that would resize each, and the
/// bytes the table needs after the last partition.
fn inputs_of(table: &PartitionTable, regions: &[Region]) -> (Vec<Input>, Vec<&'static str>, u64) {
    let mut parts: Vec<&Partition> = table.partitions.iter().collect();
    parts.sort_by_key(|p| p.start);
    let max_end = parts.iter().map(|p| p.start + p.len).max().unwrap_or(0);
    let end_reserve = table.min_disk_size.saturating_sub(max_end);
    let mut inputs = Vec::new();
    let mut tools = Vec::new();
    for p in &parts {
        let region = regions
            .iter()
            .find(|r| r.kind == (RegionKind::Partition { number: p.number }));
        let used = region.map_or(p.len, |r| r.used.total());
        let ability = match region {
            Some(r) => crate::resize::ability(r.fs.as_ref(), used, &r.method),
            None => crate::resize::ability(
                None,
                used,
                &crate::plan::Method::Raw {
                    reason: "not in the plan".into(),
                },
            ),
        };
        let fixed = fixed_role(p).map(|role| format!("{role}: keeps its size"));
        inputs.push(Input {
            number: p.number,
            start: p.start,
            len: p.len,
            logical: p.logical,
            fixed,
            min_len: ability.min_size,
            no_shrink: ability.no_shrink.clone(),
            no_grow: ability.no_grow.clone(),
            used,
        });
        tools.push(ability.tool);
    }
    (inputs, tools, end_reserve)
}

/// The smallest target a restore or clone of this layout is offered for under the default
/// policy: what `fit` can shrink it to (never more than the partitions' own end). For lists
/// that grey out disks too small; `decide` still has the last word (a host without root or
/// without the resize tools refuses the shrink with its reason).
pub fn smallest_target(table: &PartitionTable, regions: &[Region]) -> u64 {
    if table.kind == TableKind::None {
        return table.min_disk_size;
    }
    let (inputs, _, end_reserve) = inputs_of(table, regions);
    layout::smallest_target(table.kind, table.sector_size, &inputs, end_reserve)
        .map_or(table.min_disk_size, |(size, _)| {
            size.min(table.min_disk_size)
        })
}

/// The first scratch directory with room for `need` bytes (and a margin), or why none.
fn pick_scratch(
    choice: &LayoutChoice,
    defaults: &[PathBuf],
    need: u64,
) -> std::result::Result<PathBuf, String> {
    let candidates: Vec<&PathBuf> = match &choice.scratch {
        Some(d) => vec![d],
        None => defaults.iter().collect(),
    };
    let want = need.saturating_add(need / 20).saturating_add(16 << 20);
    let mut seen = Vec::new();
    for dir in candidates {
        match free_space(dir) {
            Some(free) if free >= want => return Ok(dir.clone()),
            Some(free) => seen.push(format!(
                "{} has {} free",
                dir.display(),
                crate::human_bytes(free)
            )),
            None => seen.push(format!("{} cannot be written", dir.display())),
        }
    }
    Err(if seen.is_empty() {
        "no scratch directory".into()
    } else {
        seen.join("; ")
    })
}

fn free_space(dir: &Path) -> Option<u64> {
    let st = nix::sys::statvfs::statvfs(dir).ok()?;
    if st.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY) {
        return None;
    }
    Some(st.blocks_available() * st.fragment_size())
}
