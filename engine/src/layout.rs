//! The partition layout on a target of another size: which partition starts where and how long
//! it becomes when an image is restored (or a disk cloned) onto a smaller or larger disk, under
//! one of the policies a technician picks (`keep`, `grow`, `fit`, `proportional`, or `auto`,
//! which chooses among the first three the way Macrium's "restore to a different size disk"
//! does).
//!
//! Owns: the rules of a layout (order kept, the first partition's start kept, moved partitions
//! on 1 MiB boundaries, resized lengths in whole MiB, room for an EBR before each moved logical
//! partition, the MBR 2^32-sector limit) and the refusals that name what does not fit and why.
//!
//! Must not: do any I/O, decide whether a filesystem can be resized (the caller says so through
//! [`Input`]), or produce table bytes (`table::gpt::rewrite` and `table::mbr::rewrite` do, from
//! the [`Placed`] list returned here). Every input is untrusted (it comes from an image), so all
//! arithmetic is checked and bad input is an `Error::Invalid`, never a panic.

use crate::error::{Error, Interlock, Result};
use crate::human_bytes;
use crate::table::{check_sector_size, TableKind};
use serde::{Deserialize, Serialize};

/// Alignment of moved partitions and unit of resized lengths. Every accepted sector size
/// (512..64 KiB) divides it.
pub const ALIGN: u64 = 1 << 20;

/// An MBR entry holds 32-bit sector numbers: nothing may end past 2^32 sectors.
const MBR_MAX_SECTORS: u64 = 1 << 32;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Policy {
    /// `keep` when the target holds the source as it is (`grow` when it is at least 2 MiB
    /// larger: 1 MiB of growth plus up to 1 MiB lost to alignment), `fit` when it is smaller.
    #[default]
    Auto,
    /// Same starts and lengths; refused when the target is too small.
    Keep,
    /// One partition (named, or the last one that can grow) takes all new space.
    Grow,
    /// Partitions shrink just enough to fit; never grows one.
    Fit,
    /// Every resizable partition scales with the disk.
    Proportional,
}

impl Policy {
    const NAMES: [(&'static str, Policy); 5] = [
        ("auto", Policy::Auto),
        ("keep", Policy::Keep),
        ("grow", Policy::Grow),
        ("fit", Policy::Fit),
        ("proportional", Policy::Proportional),
    ];
}

impl Policy {
    /// The policy after this one, in the order a front end offers them (auto first).
    pub fn next(self) -> Policy {
        let i = Self::NAMES
            .iter()
            .position(|(_, p)| *p == self)
            .unwrap_or(0);
        Self::NAMES[(i + 1) % Self::NAMES.len()].1
    }
}

impl std::fmt::Display for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = Self::NAMES
            .iter()
            .find(|(_, p)| p == self)
            .map_or("auto", |(n, _)| n);
        f.write_str(name)
    }
}

impl std::str::FromStr for Policy {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::NAMES
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(s.trim()))
            .map(|(_, p)| *p)
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "layout policy {s:?} (expected auto, keep, grow, fit or proportional)"
                ))
            })
    }
}

/// One source partition as the layout sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Input {
    pub number: u32,
    /// Bytes, on the source disk.
    pub start: u64,
    /// Bytes.
    pub len: u64,
    /// MBR logical partition (needs an EBR sector before it).
    pub logical: bool,
    /// Keeps its size in every policy: EFI System, Microsoft reserved, recovery (Windows RE,
    /// GPT type de94bba4-06d1-4d40-a16a-bfd50179d6ac, MBR 0x27), BIOS boot, and any partition
    /// whose filesystem cannot be resized. The text says which, for the plan.
    pub fixed: Option<String>,
    /// Smallest size the filesystem can be shrunk to (bytes, used data + headroom, computed by
    /// the caller); None = cannot shrink (reason in `no_shrink`).
    pub min_len: Option<u64>,
    pub no_shrink: Option<String>,
    /// Can the filesystem grow? None = yes; Some(reason) = no.
    pub no_grow: Option<String>,
    /// Bytes the filesystem uses (for proportional sharing in `fit`).
    pub used: u64,
}

impl Input {
    fn can_grow(&self) -> bool {
        self.fixed.is_none() && self.no_grow.is_none()
    }
    fn can_shrink(&self) -> bool {
        self.fixed.is_none() && self.min_len.is_some()
    }
    /// Why this partition keeps its size when it would have to shrink.
    fn why_not_shrink(&self) -> String {
        if let Some(why) = &self.fixed {
            return why.clone();
        }
        match (&self.min_len, &self.no_shrink) {
            (Some(min), _) if *min >= self.len => format!(
                "already at its minimum ({} used with headroom)",
                human_bytes(*min)
            ),
            (_, Some(why)) => why.clone(),
            _ => "its filesystem cannot be shrunk".into(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placed {
    pub number: u32,
    pub old_start: u64,
    pub old_len: u64,
    pub new_start: u64,
    pub new_len: u64,
}

impl Placed {
    pub fn moved(&self) -> bool {
        self.new_start != self.old_start
    }
    pub fn resized(&self) -> bool {
        self.new_len != self.old_len
    }
    pub fn new_end(&self) -> u64 {
        // lay_out checked every end for overflow.
        self.new_start.saturating_add(self.new_len)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layout {
    /// The policy applied: never `Auto`; `Keep` when `grow` found nothing that can grow.
    pub policy: Policy,
    /// In disk order.
    pub parts: Vec<Placed>,
    /// Sentences for the plan: which partition keeps its size and why, how far one shrank.
    pub notes: Vec<String>,
}

fn invalid(msg: impl Into<String>) -> Error {
    Error::Invalid(msg.into())
}

fn overflow() -> Error {
    invalid("partition offsets overflow")
}

fn align_up(v: u64) -> Result<u64> {
    v.checked_next_multiple_of(ALIGN).ok_or_else(overflow)
}

/// Where each partition lands, in order, given its new length.
///
/// The first partition keeps its start (the boot area before it and its contents stay as they
/// are). Every later one goes right after its predecessor, on the next 1 MiB boundary, with
/// 1 MiB more first for a logical partition (its EBR goes there): gaps between partitions in
/// the source are not kept beyond that, the layout is contiguous. With `anchored`, a partition
/// whose source start already lies between the earliest and the aligned spot keeps it: nothing
/// moves by less than 1 MiB merely to become aligned (old cylinder-aligned disks stay as they
/// are). A logical partition kept that way may have less than 1 MiB before it; its EBR then
/// goes right after the previous partition (see `table::mbr::rewrite`).
fn place(parts: &[Input], lens: &[u64], ss: u64, anchored: bool) -> Result<Vec<Placed>> {
    let mut out = Vec::with_capacity(parts.len());
    let mut cursor = 0u64;
    for (i, (p, &len)) in parts.iter().zip(lens).enumerate() {
        let start = if i == 0 {
            p.start
        } else {
            let (room, earliest) = if p.logical {
                (ALIGN, cursor.checked_add(ss).ok_or_else(overflow)?)
            } else {
                (0, cursor)
            };
            let aligned = align_up(cursor.checked_add(room).ok_or_else(overflow)?)?;
            if anchored && p.start >= earliest && p.start <= aligned {
                p.start
            } else {
                aligned
            }
        };
        cursor = start.checked_add(len).ok_or_else(overflow)?;
        out.push(Placed {
            number: p.number,
            old_start: p.start,
            old_len: p.len,
            new_start: start,
            new_len: len,
        });
    }
    Ok(out)
}

fn end_of(placed: &[Placed]) -> u64 {
    placed.last().map_or(0, Placed::new_end)
}

/// One partition whose length the policy chooses, in whole MiB between `lo` and `hi`,
/// in proportion to `weight`.
struct Share {
    index: usize,
    weight: u128,
    lo: u64,
    hi: u64,
}

/// Shares `budget` units among `items`: each gets `t * weight` clamped to its bounds, with `t`
/// chosen so the sum meets the budget (or every item sits at its upper bound). Classic
/// water-filling: each round clamps the side (lower or upper) that is violated more, so every
/// round fixes at least one item. Floors from integer division leave a few units, handed out
/// one by one. The caller checks that the result fits; this only has to be close and bounded.
fn water_fill(items: &[Share], budget: u64) -> Vec<u64> {
    let n = items.len();
    let mut x = vec![0u64; n];
    let mut fixed = vec![false; n];
    for _ in 0..=n {
        let active: Vec<usize> = (0..n).filter(|&i| !fixed[i]).collect();
        if active.is_empty() {
            break;
        }
        let taken: u128 = (0..n).filter(|&i| fixed[i]).map(|i| u128::from(x[i])).sum();
        let rem = u128::from(budget).saturating_sub(taken);
        let w: u128 = active.iter().map(|&i| items[i].weight).sum::<u128>().max(1);
        for &i in &active {
            // rem < 2^64 and weight < 2^64 (both in MiB units): the product fits in u128.
            x[i] = u64::try_from(rem * items[i].weight / w).unwrap_or(u64::MAX);
        }
        let below: u128 = active
            .iter()
            .filter(|&&i| x[i] < items[i].lo)
            .map(|&i| u128::from(items[i].lo - x[i]))
            .sum();
        let above: u128 = active
            .iter()
            .filter(|&&i| x[i] > items[i].hi)
            .map(|&i| u128::from(x[i] - items[i].hi))
            .sum();
        if below == 0 && above == 0 {
            break;
        }
        for &i in &active {
            if below >= above && x[i] < items[i].lo {
                x[i] = items[i].lo;
                fixed[i] = true;
            } else if below < above && x[i] > items[i].hi {
                x[i] = items[i].hi;
                fixed[i] = true;
            }
        }
    }
    for i in 0..n {
        x[i] = x[i].clamp(items[i].lo, items[i].hi.max(items[i].lo));
    }
    let mut spare = budget.saturating_sub(x.iter().fold(0u64, |a, &v| a.saturating_add(v)));
    while spare > 0 {
        let mut gave = false;
        for i in 0..n {
            if spare > 0 && x[i] < items[i].hi {
                x[i] += 1;
                spare -= 1;
                gave = true;
            }
        }
        if !gave {
            break;
        }
    }
    x
}

/// Decides the layout of `parts` on a target of `target_size` bytes.
///
/// `end_reserve`: bytes the table needs after the last partition (GPT: backup entry array and
/// header, 33 sectors at 512 B; MBR: 0). `grow` names the partition `grow` enlarges. The first
/// partition's start is always kept, so the boot area and the post-MBR gap stay intact. On MBR
/// nothing may end past 2^32 sectors: the rest of a larger target stays unused.
///
/// Refusals (`Error::Refused` with `Interlock::TargetTooSmall`) say the target size, what is
/// needed and why partitions could not shrink. Nonsense input (unaligned or overlapping
/// partitions, an unknown `grow` number, a `grow` partition that cannot grow) is
/// `Error::Invalid`.
/// The smallest disk `fit` would lay these partitions out on (and the numbers of the
/// partitions it would shrink to get there); never more than what they need unchanged.
pub fn smallest_target(
    kind: TableKind,
    sector_size: u64,
    parts: &[Input],
    end_reserve: u64,
) -> Result<(u64, Vec<u32>)> {
    check_sector_size(sector_size)?;
    if kind == TableKind::None {
        return Err(invalid("no partition table: the disk keeps its size"));
    }
    let mut parts = parts.to_vec();
    parts.sort_by_key(|p| p.start);
    check_inputs(&parts, sector_size)?;
    let source_end = parts.iter().map(|p| p.start + p.len).max().unwrap_or(0);
    let needed = source_end.checked_add(end_reserve).ok_or_else(overflow)?;
    let ctx = Ctx {
        parts: &parts,
        ss: sector_size,
        usable_end: source_end,
        end_reserve,
        target_size: needed,
        source_end,
        needed,
    };
    let (shares, _) = ctx.fit_shares();
    let old_lens: Vec<u64> = parts.iter().map(|p| p.len).collect();
    let shrunk = shares.iter().map(|s| parts[s.index].number).collect();
    Ok((ctx.smallest(&old_lens, &shares).min(needed), shrunk))
}

pub fn lay_out(
    kind: TableKind,
    sector_size: u64,
    parts: &[Input],
    target_size: u64,
    end_reserve: u64,
    policy: Policy,
    grow: Option<u32>,
) -> Result<Layout> {
    check_sector_size(sector_size)?;
    let ss = sector_size;
    if kind == TableKind::None {
        return Err(invalid(
            "no partition table: the disk is copied whole, there is no layout to decide",
        ));
    }
    let mut parts = parts.to_vec();
    parts.sort_by_key(|p| p.start);
    check_inputs(&parts, ss)?;
    if let Some(g) = grow {
        if !parts.iter().any(|p| p.number == g) {
            return Err(invalid(format!("partition {g} (to grow) does not exist")));
        }
    }
    let old_lens: Vec<u64> = parts.iter().map(|p| p.len).collect();
    let source_end = parts.iter().map(|p| p.start + p.len).max().unwrap_or(0);
    let needed = source_end.checked_add(end_reserve).ok_or_else(overflow)?;
    // The last byte a partition may use on the target.
    let disk_end = target_size / ss * ss;
    let mut usable_end = disk_end.saturating_sub(end_reserve);
    if kind == TableKind::Mbr {
        usable_end = usable_end.min(MBR_MAX_SECTORS.saturating_mul(ss));
    }
    let ctx = Ctx {
        parts: &parts,
        ss,
        usable_end,
        end_reserve,
        target_size,
        source_end,
        needed,
    };
    let resolved = match policy {
        Policy::Auto if source_end > usable_end => Policy::Fit,
        Policy::Auto if usable_end >= source_end.saturating_add(2 * ALIGN) => Policy::Grow,
        Policy::Auto => Policy::Keep,
        p => p,
    };
    match resolved {
        Policy::Keep => {
            if source_end > usable_end {
                return Err(ctx.too_small(
                    "keeping every partition's size and place",
                    "use `fit` to shrink partitions",
                ));
            }
            Ok(ctx.identity(Policy::Keep, Vec::new()))
        }
        Policy::Grow => ctx.grow(&old_lens, grow),
        Policy::Fit => ctx.fit(&old_lens),
        Policy::Proportional => ctx.proportional(&old_lens),
        Policy::Auto => Err(invalid("auto policy left unresolved")),
    }
}

/// Checks the untrusted partition list: sector-aligned, non-empty, no overflow, no overlap.
fn check_inputs(parts: &[Input], ss: u64) -> Result<()> {
    let mut prev_end = 0u64;
    for p in parts {
        if p.len == 0 || p.start % ss != 0 || p.len % ss != 0 {
            return Err(invalid(format!(
                "partition {} ({} bytes at {}) is empty or not a whole number of {ss}-byte sectors",
                p.number, p.len, p.start
            )));
        }
        let end = p.start.checked_add(p.len).ok_or_else(overflow)?;
        if p.start < prev_end {
            return Err(invalid(format!(
                "partition {} at byte {} overlaps the partition before it",
                p.number, p.start
            )));
        }
        if parts.iter().filter(|q| q.number == p.number).count() > 1 {
            return Err(invalid(format!("partition number {} twice", p.number)));
        }
        prev_end = end;
    }
    Ok(())
}

struct Ctx<'a> {
    parts: &'a [Input],
    ss: u64,
    usable_end: u64,
    end_reserve: u64,
    target_size: u64,
    /// Where the source's last partition ends, and that plus the table's end reserve.
    source_end: u64,
    needed: u64,
}

impl Ctx<'_> {
    fn identity(&self, policy: Policy, notes: Vec<String>) -> Layout {
        let parts = self
            .parts
            .iter()
            .map(|p| Placed {
                number: p.number,
                old_start: p.start,
                old_len: p.len,
                new_start: p.start,
                new_len: p.len,
            })
            .collect();
        Layout {
            policy,
            parts,
            notes,
        }
    }

    fn too_small(&self, what: &str, hint: &str) -> Error {
        Error::refused(
            Interlock::TargetTooSmall,
            format!(
                "the target has {} bytes ({}); {what} needs {} bytes ({}): {hint}",
                self.target_size,
                human_bytes(self.target_size),
                self.needed,
                human_bytes(self.needed)
            ),
        )
    }

    fn fits(&self, placed: &[Placed]) -> bool {
        end_of(placed) <= self.usable_end
    }

    /// Whole MiB available to the partitions in `members` once every other partition,
    /// alignment padding and EBR room are accounted for. Resized lengths are whole MiB and
    /// moved starts are aligned, so the padding does not depend on the lengths chosen; the
    /// unanchored layout is the worst case of the anchored one.
    fn budget(&self, old_lens: &[u64], members: &[usize]) -> Result<Option<u64>> {
        let mut lens = old_lens.to_vec();
        for &i in members {
            lens[i] = 0;
        }
        let end0 = end_of(&place(self.parts, &lens, self.ss, false)?);
        Ok(self.usable_end.checked_sub(end0).map(|b| b / ALIGN))
    }

    /// Turns chosen MiB counts into lengths, keeping the old length wherever the change would
    /// be under 1 MiB (no resize for nothing), then takes back whole MiB from the member with
    /// the most room above its floor until the anchored layout fits. `None` when it cannot.
    fn settle(
        &self,
        old_lens: &[u64],
        shares: &[Share],
        units: &[u64],
    ) -> Result<Option<Vec<Placed>>> {
        let mut lens = old_lens.to_vec();
        let mut floors = Vec::with_capacity(shares.len());
        for (s, &u) in shares.iter().zip(units) {
            let old = old_lens[s.index];
            let len = u.checked_mul(ALIGN).ok_or_else(overflow)?;
            lens[s.index] = if len.abs_diff(old) < ALIGN { old } else { len };
            let p = &self.parts[s.index];
            let floor = if p.can_shrink() { s.lo * ALIGN } else { old };
            floors.push(floor);
        }
        // Each round takes at most 1 MiB; unaligned old lengths cost under 1 MiB each, so
        // this ends quickly when a fit exists. The bound keeps hostile input from looping.
        for _ in 0..=4 * shares.len() + 4 {
            let placed = place(self.parts, &lens, self.ss, true)?;
            if self.fits(&placed) {
                return Ok(Some(placed));
            }
            let best = shares
                .iter()
                .zip(&floors)
                .filter(|(s, &f)| lens[s.index] > f && lens[s.index] - f >= 1)
                .max_by_key(|(s, &f)| lens[s.index] - f);
            let Some((s, &floor)) = best else {
                return Ok(None);
            };
            let cur = lens[s.index];
            let down = if !cur.is_multiple_of(ALIGN) {
                cur / ALIGN * ALIGN
            } else {
                cur - ALIGN
            };
            lens[s.index] = down.max(floor);
        }
        Ok(None)
    }

    fn grow(&self, old_lens: &[u64], named: Option<u32>) -> Result<Layout> {
        if self.source_end > self.usable_end {
            return Err(self.too_small(
                "keeping every partition",
                "`grow` never shrinks; use `fit` to shrink partitions",
            ));
        }
        let index = match named {
            Some(n) => {
                let i = self
                    .parts
                    .iter()
                    .position(|p| p.number == n)
                    .ok_or_else(|| invalid(format!("partition {n} does not exist")))?;
                let p = &self.parts[i];
                if let Some(why) = p.fixed.as_ref().or(p.no_grow.as_ref()) {
                    return Err(invalid(format!("partition {n} cannot grow: {why}")));
                }
                i
            }
            None => match self.parts.iter().rposition(Input::can_grow) {
                Some(i) => i,
                None => {
                    let notes = vec!["no partition can grow: the layout is kept as it is".into()];
                    return Ok(self.identity(Policy::Keep, notes));
                }
            },
        };
        let Some(budget) = self.budget(old_lens, &[index])? else {
            return Ok(self.identity(Policy::Grow, Vec::new()));
        };
        let old = old_lens[index];
        let share = Share {
            index,
            weight: 1,
            lo: old.div_ceil(ALIGN),
            hi: u64::MAX,
        };
        let units = [budget.max(share.lo)];
        let placed = self.settle(old_lens, std::slice::from_ref(&share), &units)?;
        let Some(mut placed) = placed else {
            return Ok(self.identity(Policy::Grow, Vec::new()));
        };
        // Growing by less than nothing is no growth: keep the source as it is.
        if placed[index].new_len < old {
            placed = self.identity(Policy::Grow, Vec::new()).parts;
        }
        let p = &placed[index];
        let notes = vec![format!(
            "partition {} grows from {} to {}",
            p.number,
            human_bytes(p.old_len),
            human_bytes(p.new_len)
        )];
        Ok(Layout {
            policy: Policy::Grow,
            parts: placed,
            notes,
        })
    }

    fn fit(&self, old_lens: &[u64]) -> Result<Layout> {
        // `fit` only shrinks what it must: a target that holds the source keeps it as it is.
        if self.source_end <= self.usable_end {
            return Ok(self.identity(Policy::Fit, Vec::new()));
        }
        let (shares, kept) = self.fit_shares();
        let members: Vec<usize> = shares.iter().map(|s| s.index).collect();
        let budget = self.budget(old_lens, &members)?;
        let sum_lo = shares.iter().fold(0u64, |a, s| a.saturating_add(s.lo));
        let placed = match budget {
            Some(b) if b >= sum_lo => {
                let units = water_fill(&shares, b);
                self.settle(old_lens, &shares, &units)?
            }
            _ => None,
        };
        let Some(placed) = placed else {
            return Err(self.fit_refusal(old_lens, &shares, &kept));
        };
        let mut notes: Vec<String> = kept
            .iter()
            .map(|&i| {
                let p = &self.parts[i];
                format!(
                    "partition {} keeps its size: {}",
                    p.number,
                    p.why_not_shrink()
                )
            })
            .collect();
        for s in &shares {
            let p = &placed[s.index];
            if p.resized() {
                notes.push(format!(
                    "partition {} shrinks from {} to {} (its minimum is {})",
                    p.number,
                    human_bytes(p.old_len),
                    human_bytes(p.new_len),
                    human_bytes(s.lo * ALIGN)
                ));
            }
        }
        Ok(Layout {
            policy: Policy::Fit,
            parts: placed,
            notes,
        })
    }

    /// What `fit` may shrink (each with its floor and ceiling in MiB), and the indexes of the
    /// partitions that keep their size.
    fn fit_shares(&self) -> (Vec<Share>, Vec<usize>) {
        let mut shares = Vec::new();
        let mut kept = Vec::new();
        for (i, p) in self.parts.iter().enumerate() {
            let lo = p.min_len.map(|m| m.div_ceil(ALIGN));
            match lo {
                Some(lo) if p.can_shrink() && lo.saturating_mul(ALIGN) < p.len => {
                    shares.push(Share {
                        index: i,
                        // Free space is shared in proportion to used data; an empty
                        // filesystem counts as 1 MiB so it still gets some.
                        weight: u128::from((p.used / ALIGN).max(1)),
                        lo,
                        hi: p.len / ALIGN,
                    });
                }
                _ => kept.push(i),
            }
        }
        (shares, kept)
    }

    /// The smallest target `fit` accepts: every share at its floor, in the anchored layout.
    fn smallest(&self, old_lens: &[u64], shares: &[Share]) -> u64 {
        let mut lens = old_lens.to_vec();
        for s in shares {
            lens[s.index] = s.lo.saturating_mul(ALIGN);
        }
        place(self.parts, &lens, self.ss, true)
            .map(|p| end_of(&p))
            .unwrap_or(u64::MAX)
            .saturating_add(self.end_reserve)
            .checked_next_multiple_of(ALIGN)
            .unwrap_or(u64::MAX)
    }

    /// The refusal of `fit`: the smallest target that would do, and why the others could not
    /// shrink.
    fn fit_refusal(&self, old_lens: &[u64], shares: &[Share], kept: &[usize]) -> Error {
        let smallest = self.smallest(old_lens, shares);
        let mut msg = format!(
            "the target has {} bytes ({}); even with every partition shrunk to its minimum the \
             layout needs at least {} bytes ({})",
            self.target_size,
            human_bytes(self.target_size),
            smallest,
            human_bytes(smallest)
        );
        for &i in kept {
            let p = &self.parts[i];
            msg.push_str(&format!(
                "; partition {} ({}) cannot shrink: {}",
                p.number,
                human_bytes(p.len),
                p.why_not_shrink()
            ));
        }
        Error::refused(Interlock::TargetTooSmall, msg)
    }

    fn proportional(&self, old_lens: &[u64]) -> Result<Layout> {
        let mut shares = Vec::new();
        let mut kept = Vec::new();
        for (i, p) in self.parts.iter().enumerate() {
            if p.fixed.is_some() || (!p.can_grow() && !p.can_shrink()) {
                kept.push(i);
                continue;
            }
            let lo = match p.min_len {
                Some(m) if p.can_shrink() => m.div_ceil(ALIGN),
                _ => p.len.div_ceil(ALIGN),
            };
            let hi = if p.can_grow() {
                u64::MAX
            } else {
                p.len / ALIGN
            };
            if lo > hi {
                kept.push(i);
                continue;
            }
            shares.push(Share {
                index: i,
                weight: u128::from((p.len / ALIGN).max(1)),
                lo,
                hi,
            });
        }
        let members: Vec<usize> = shares.iter().map(|s| s.index).collect();
        let budget = self.budget(old_lens, &members)?;
        let sum_lo = shares.iter().fold(0u64, |a, s| a.saturating_add(s.lo));
        let placed = match budget {
            Some(b) if b >= sum_lo => {
                let units = water_fill(&shares, b);
                self.settle(old_lens, &shares, &units)?
            }
            _ => None,
        };
        let Some(placed) = placed else {
            return Err(self.fit_refusal(old_lens, &shares, &kept));
        };
        let mut notes: Vec<String> = kept
            .iter()
            .map(|&i| {
                let p = &self.parts[i];
                let why = p
                    .fixed
                    .clone()
                    .or_else(|| p.no_grow.clone())
                    .unwrap_or_else(|| p.why_not_shrink());
                format!("partition {} keeps its size: {why}", p.number)
            })
            .collect();
        for s in &shares {
            let p = &placed[s.index];
            let why_fixed = &self.parts[s.index].no_grow;
            if let (false, Some(why)) = (p.resized(), why_fixed) {
                notes.push(format!("partition {} keeps its size: {why}", p.number));
            } else if p.resized() {
                notes.push(format!(
                    "partition {} scales from {} to {}",
                    p.number,
                    human_bytes(p.old_len),
                    human_bytes(p.new_len)
                ));
            }
        }
        Ok(Layout {
            policy: Policy::Proportional,
            parts: placed,
            notes,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    const MIB: u64 = ALIGN;
    const GIB: u64 = 1 << 30;
    const GB: u64 = 1_000_000_000;
    const SS: u64 = 512;
    /// GPT backup area at 512-byte sectors: 32 sectors of entries and the header.
    const GPT_END: u64 = 33 * 512;

    /// A resizable partition that can shrink to a quarter of itself and uses an eighth.
    fn part(number: u32, start: u64, len: u64) -> Input {
        Input {
            number,
            start,
            len,
            logical: false,
            fixed: None,
            min_len: Some(len / 4),
            no_shrink: None,
            no_grow: None,
            used: len / 8,
        }
    }

    fn fixed(number: u32, start: u64, len: u64, why: &str) -> Input {
        Input {
            fixed: Some(why.into()),
            min_len: None,
            ..part(number, start, len)
        }
    }

    fn logical(number: u32, start: u64, len: u64) -> Input {
        Input {
            logical: true,
            ..part(number, start, len)
        }
    }

    /// A 512 GB Windows disk as Windows setup lays it out: ESP 100 MiB, MSR 16 MiB, C:, and a
    /// 750 MiB recovery partition at the end. C: holds 60 GiB (70 GiB with headroom).
    fn windows(disk: u64) -> Vec<Input> {
        let recovery_len = 750 * MIB;
        let last_usable = disk - GPT_END;
        let recovery_start = (last_usable - recovery_len) / MIB * MIB;
        let c_start = 117 * MIB;
        vec![
            fixed(1, MIB, 100 * MIB, "EFI System partition"),
            fixed(2, 101 * MIB, 16 * MIB, "Microsoft reserved partition"),
            Input {
                min_len: Some(70 * GIB),
                used: 60 * GIB,
                ..part(3, c_start, recovery_start - c_start)
            },
            fixed(
                4,
                recovery_start,
                recovery_len,
                "Windows recovery environment",
            ),
        ]
    }

    fn refusal(r: Result<Layout>) -> String {
        match r {
            Err(Error::Refused {
                interlock: Interlock::TargetTooSmall,
                message,
            }) => message,
            other => panic!("expected a TargetTooSmall refusal, got {other:?}"),
        }
    }

    fn invalid_msg(r: Result<Layout>) -> String {
        match r {
            Err(Error::Invalid(m)) => m,
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    /// Every rule a layout must keep, whatever the policy: order, first start, alignment of
    /// moved starts and resized lengths, EBR room before moved logical partitions, no overlap,
    /// fixed sizes, min_len respected, nothing past the usable end.
    fn check_rules(kind: TableKind, inputs: &[Input], target: u64, reserve: u64, l: &Layout) {
        assert_ne!(l.policy, Policy::Auto);
        let mut sorted = inputs.to_vec();
        sorted.sort_by_key(|p| p.start);
        assert_eq!(l.parts.len(), sorted.len());
        let mut usable_end = target / SS * SS - reserve;
        if kind == TableKind::Mbr {
            usable_end = usable_end.min((1u64 << 32) * SS);
        }
        let mut prev_end = 0;
        for (i, (p, input)) in l.parts.iter().zip(&sorted).enumerate() {
            assert_eq!(p.number, input.number, "order kept");
            assert_eq!((p.old_start, p.old_len), (input.start, input.len));
            if i == 0 {
                assert_eq!(p.new_start, input.start, "first start kept");
            }
            if p.moved() {
                assert_eq!(p.new_start % MIB, 0, "moved start aligned: {p:?}");
                if input.logical {
                    assert!(p.new_start - prev_end >= MIB, "EBR room: {p:?}");
                }
            }
            if p.resized() {
                assert_eq!(p.new_len % MIB, 0, "resized length in MiB: {p:?}");
                assert!(input.fixed.is_none(), "fixed partition resized: {p:?}");
                if p.new_len < p.old_len {
                    assert!(p.new_len >= input.min_len.unwrap(), "below min: {p:?}");
                } else {
                    assert!(input.no_grow.is_none(), "grew what cannot grow: {p:?}");
                }
            }
            assert!(p.new_start >= prev_end, "overlap: {p:?}");
            if input.logical {
                assert!(p.new_start >= prev_end + SS, "no room for an EBR: {p:?}");
            }
            prev_end = p.new_end();
        }
        assert!(prev_end <= usable_end, "{prev_end} past {usable_end}");
    }

    fn lay(parts: &[Input], target: u64, policy: Policy, grow: Option<u32>) -> Result<Layout> {
        let l = lay_out(TableKind::Gpt, SS, parts, target, GPT_END, policy, grow)?;
        check_rules(TableKind::Gpt, parts, target, GPT_END, &l);
        Ok(l)
    }

    #[test]
    fn policy_names_parse_print_and_serialize() {
        for name in ["auto", "keep", "grow", "fit", "proportional"] {
            let p: Policy = name.parse().unwrap();
            assert_eq!(p.to_string(), name);
            assert_eq!(serde_json::to_string(&p).unwrap(), format!("\"{name}\""));
        }
        assert_eq!(" FIT ".parse::<Policy>().unwrap(), Policy::Fit);
        assert!(matches!("shrink".parse::<Policy>(), Err(Error::Invalid(_))));
        assert_eq!(Policy::default(), Policy::Auto);
    }

    #[test]
    fn auto_keeps_grows_or_fits_by_target_size() {
        let parts = [part(1, MIB, 10 * MIB), part(2, 11 * MIB, 20 * MIB)];
        let exact = 31 * MIB + GPT_END;
        let l = lay(&parts, exact, Policy::Auto, None).unwrap();
        assert_eq!(l.policy, Policy::Keep);
        assert!(l.parts.iter().all(|p| !p.moved() && !p.resized()));
        // 1.5 MiB more is not worth growing: alignment could eat it.
        let l = lay(&parts, exact + 3 * MIB / 2, Policy::Auto, None).unwrap();
        assert_eq!(l.policy, Policy::Keep);
        let l = lay(&parts, exact + 2 * MIB, Policy::Auto, None).unwrap();
        assert_eq!(l.policy, Policy::Grow);
        assert_eq!(l.parts[1].new_len, 22 * MIB);
        let l = lay(&parts, exact - MIB, Policy::Auto, None).unwrap();
        assert_eq!(l.policy, Policy::Fit);
        assert_eq!(l.parts[1].new_end(), 30 * MIB);
    }

    #[test]
    fn policies_cycle_in_the_order_they_are_offered() {
        let mut p = Policy::Auto;
        let mut seen = Vec::new();
        for _ in 0..5 {
            p = p.next();
            seen.push(p.to_string());
        }
        assert_eq!(seen, ["keep", "grow", "fit", "proportional", "auto"]);
    }

    #[test]
    fn keep_refuses_a_small_target_and_names_sizes() {
        let parts = [part(1, MIB, 10 * MIB)];
        let l = lay(&parts, 64 * MIB, Policy::Keep, None).unwrap();
        assert_eq!(l.policy, Policy::Keep);
        assert!(l.parts.iter().all(|p| !p.moved() && !p.resized()));
        let msg = refusal(lay(&parts, 11 * MIB, Policy::Keep, None));
        assert!(msg.contains(&format!("{} bytes", 11 * MIB)), "{msg}");
        assert!(
            msg.contains(&format!("{} bytes", 11 * MIB + GPT_END)),
            "{msg}"
        );
        assert!(msg.contains("fit"), "{msg}");
    }

    #[test]
    fn grow_gives_new_space_to_the_last_growable_and_shifts_later_ones() {
        let src = windows(512 * GB);
        let l = lay(&src, 1024 * GB, Policy::Grow, None).unwrap();
        assert_eq!(l.policy, Policy::Grow);
        let [esp, msr, c, rec] = &l.parts[..] else {
            panic!()
        };
        assert!(!esp.moved() && !esp.resized() && !msr.moved() && !msr.resized());
        assert!(!c.moved() && c.resized() && c.new_len > c.old_len);
        assert!(rec.moved() && !rec.resized());
        assert_eq!(rec.new_start, c.new_end());
        // All the space but alignment goes to C:, the recovery partition stays last.
        assert!(1024 * GB - GPT_END - rec.new_end() < MIB);
        assert!(l.notes[0].contains("partition 3 grows"), "{:?}", l.notes);
    }

    #[test]
    fn grow_a_named_partition_or_say_why_not() {
        let parts = [
            part(1, MIB, 10 * MIB),
            part(2, 11 * MIB, 10 * MIB),
            Input {
                no_grow: Some("the filesystem has no resizer".into()),
                ..part(3, 21 * MIB, 10 * MIB)
            },
        ];
        let l = lay(&parts, 100 * MIB, Policy::Grow, Some(1)).unwrap();
        assert!(l.parts[0].new_len > 60 * MIB);
        assert_eq!(l.parts[1].new_start, l.parts[0].new_end());
        // Without a name: the last that can grow (2, since 3 cannot).
        let l = lay(&parts, 100 * MIB, Policy::Grow, None).unwrap();
        assert!(l.parts[1].resized() && !l.parts[2].resized() && l.parts[2].moved());
        let msg = invalid_msg(lay(&parts, 100 * MIB, Policy::Grow, Some(3)));
        assert!(
            msg.contains("partition 3") && msg.contains("no resizer"),
            "{msg}"
        );
        let msg = invalid_msg(lay(&parts, 100 * MIB, Policy::Grow, Some(9)));
        assert!(msg.contains("partition 9"), "{msg}");
        let fixed_esp = [fixed(1, MIB, 10 * MIB, "EFI System partition")];
        let msg = invalid_msg(lay(&fixed_esp, 100 * MIB, Policy::Grow, Some(1)));
        assert!(msg.contains("EFI System"), "{msg}");
    }

    #[test]
    fn grow_with_nothing_growable_keeps_the_layout() {
        let parts = [fixed(1, MIB, 10 * MIB, "EFI System partition")];
        let l = lay(&parts, 100 * MIB, Policy::Grow, None).unwrap();
        assert_eq!(l.policy, Policy::Keep);
        assert!(!l.parts[0].moved() && !l.parts[0].resized());
        assert!(l.notes[0].contains("no partition can grow"));
    }

    #[test]
    fn grow_on_a_smaller_target_suggests_fit() {
        let parts = [part(1, MIB, 100 * MIB)];
        let msg = refusal(lay(&parts, 50 * MIB, Policy::Grow, None));
        assert!(msg.contains("`fit`"), "{msg}");
    }

    #[test]
    fn windows_disk_fits_from_512_gb_to_256_gb_with_recovery_last() {
        let src = windows(512 * GB);
        let l = lay(&src, 256 * GB, Policy::Auto, None).unwrap();
        assert_eq!(l.policy, Policy::Fit);
        let [esp, msr, c, rec] = &l.parts[..] else {
            panic!()
        };
        assert!(!esp.moved() && !esp.resized() && !msr.moved() && !msr.resized());
        assert!(!c.moved() && c.new_len < c.old_len && c.new_len >= 70 * GIB);
        assert_eq!((rec.number, rec.new_len), (4, 750 * MIB));
        assert_eq!(rec.new_start, c.new_end());
        // Only C: can shrink, so it takes all that is left; nothing is wasted but alignment.
        assert!(256 * GB - GPT_END - rec.new_end() < MIB);
        let notes = l.notes.join("\n");
        assert!(
            notes.contains("partition 4 keeps its size: Windows recovery"),
            "{notes}"
        );
        assert!(notes.contains("partition 3 shrinks"), "{notes}");
    }

    #[test]
    fn fit_shares_free_space_in_proportion_to_used_data() {
        let parts = [
            Input {
                used: 10 * MIB,
                min_len: Some(12 * MIB),
                ..part(1, MIB, 400 * MIB)
            },
            Input {
                used: 30 * MIB,
                min_len: Some(35 * MIB),
                ..part(2, 401 * MIB, 400 * MIB)
            },
        ];
        let l = lay(&parts, 201 * MIB + GPT_END, Policy::Fit, None).unwrap();
        let (a, b) = (l.parts[0].new_len / MIB, l.parts[1].new_len / MIB);
        assert_eq!(a + b, 200);
        assert_eq!((a, b), (50, 150), "1:3 like the used data");
        // A tight target: the first is held at its minimum, the second takes the rest.
        let parts2 = [
            Input {
                used: 10 * MIB,
                min_len: Some(40 * MIB),
                ..parts[0].clone()
            },
            parts[1].clone(),
        ];
        let l = lay(&parts2, 101 * MIB + GPT_END, Policy::Fit, None).unwrap();
        assert_eq!(l.parts[0].new_len, 40 * MIB);
        assert_eq!(l.parts[1].new_len, 60 * MIB);
        // Fit on a larger target keeps everything as it is.
        let l = lay(&parts, GIB, Policy::Fit, None).unwrap();
        assert_eq!(l.policy, Policy::Fit);
        assert!(l.parts.iter().all(|p| !p.moved() && !p.resized()));
    }

    #[test]
    fn fit_only_shrinks_what_it_must() {
        // The target is 10 MiB short: only the partition with the most free space per used
        // byte gives them up; the full one keeps its size.
        let parts = [
            Input {
                used: 90 * MIB,
                min_len: Some(95 * MIB),
                ..part(1, MIB, 100 * MIB)
            },
            Input {
                used: 10 * MIB,
                min_len: Some(12 * MIB),
                ..part(2, 101 * MIB, 100 * MIB)
            },
        ];
        let l = lay(&parts, 191 * MIB + GPT_END, Policy::Fit, None).unwrap();
        assert!(!l.parts[0].resized());
        assert_eq!(l.parts[1].new_len, 90 * MIB);
    }

    #[test]
    fn fit_refusal_names_the_smallest_size_and_every_reason() {
        let parts = [
            fixed(1, MIB, 100 * MIB, "EFI System partition"),
            Input {
                min_len: None,
                no_shrink: Some("NTFS volume is marked dirty".into()),
                ..part(2, 101 * MIB, 200 * MIB)
            },
            Input {
                min_len: Some(50 * MIB + 1),
                ..part(3, 301 * MIB, 300 * MIB)
            },
        ];
        let msg = refusal(lay(&parts, 300 * MIB, Policy::Fit, None));
        // 1 + 100 + 200 + 51 MiB, plus the GPT backup, rounded up to MiB: 353 MiB.
        assert!(msg.contains(&format!("{} bytes", 300 * MIB)), "{msg}");
        assert!(msg.contains(&format!("{} bytes", 353 * MIB)), "{msg}");
        assert!(
            msg.contains("partition 1 (100.0 MiB) cannot shrink: EFI System"),
            "{msg}"
        );
        assert!(
            msg.contains("partition 2 (200.0 MiB) cannot shrink: NTFS volume is marked dirty"),
            "{msg}"
        );
        assert!(!msg.contains("partition 3 ("), "{msg}");
        // And the smallest size it named really works, and is what smallest_target says.
        lay(&parts, 353 * MIB, Policy::Fit, None).unwrap();
        let (smallest, shrunk) = smallest_target(TableKind::Gpt, SS, &parts, GPT_END).unwrap();
        assert_eq!((smallest, shrunk), (353 * MIB, vec![3]));
        // A layout with nothing to shrink needs what it has.
        let (unchanged, shrunk) =
            smallest_target(TableKind::Gpt, SS, &parts[..2], GPT_END).unwrap();
        assert_eq!((unchanged, shrunk), (301 * MIB + GPT_END, vec![]));
    }

    #[test]
    fn proportional_scales_what_can_change_and_keeps_the_rest() {
        let parts = [
            fixed(1, MIB, 100 * MIB, "EFI System partition"),
            part(2, 101 * MIB, 200 * MIB),
            part(3, 301 * MIB, 400 * MIB),
            Input {
                no_grow: Some("no resizer".into()),
                ..part(4, 701 * MIB, 100 * MIB)
            },
        ];
        // Twice the resizable space: 2 and 3 double, 4 cannot grow, 1 is fixed.
        let target = 801 * MIB + 600 * MIB + GPT_END;
        let l = lay(&parts, target, Policy::Proportional, None).unwrap();
        let lens: Vec<u64> = l.parts.iter().map(|p| p.new_len / MIB).collect();
        assert_eq!(lens, [100, 400, 800, 100]);
        assert!(l
            .notes
            .iter()
            .any(|n| n.contains("partition 4 keeps its size: no resizer")));
        // Half the space: 4 shrinks too, all by the same factor; min_len clamps and the
        // others take up the difference.
        let target = 101 * MIB + 350 * MIB + GPT_END;
        let l = lay(&parts, target, Policy::Proportional, None).unwrap();
        let lens: Vec<u64> = l.parts.iter().map(|p| p.new_len / MIB).collect();
        assert_eq!(lens, [100, 100, 200, 50]);
        let clamped = [
            parts[0].clone(),
            Input {
                min_len: Some(150 * MIB),
                ..parts[1].clone()
            },
            parts[2].clone(),
            parts[3].clone(),
        ];
        let l = lay(&clamped, target, Policy::Proportional, None).unwrap();
        let lens: Vec<u64> = l.parts.iter().map(|p| p.new_len / MIB).collect();
        assert_eq!(lens[1], 150);
        assert_eq!(lens[2] + lens[3], 200);
        assert_eq!(lens[2], 4 * lens[3]);
    }

    #[test]
    fn logical_partitions_keep_a_mib_for_their_ebr() {
        // p1, extended from 101 MiB: p5 at 102 MiB, p6 at 203 MiB (each after a 1 MiB EBR slot).
        let parts = [
            part(1, MIB, 100 * MIB),
            logical(5, 102 * MIB, 100 * MIB),
            logical(6, 203 * MIB, 100 * MIB),
        ];
        let l = lay_out(TableKind::Mbr, SS, &parts, GIB, 0, Policy::Grow, Some(5)).unwrap();
        check_rules(TableKind::Mbr, &parts, GIB, 0, &l);
        assert!(!l.parts[1].moved());
        assert_eq!(l.parts[2].new_start, l.parts[1].new_end() + MIB);
        assert_eq!(l.parts[2].new_end(), GIB);
        let l = lay_out(TableKind::Mbr, SS, &parts, 200 * MIB, 0, Policy::Fit, None).unwrap();
        check_rules(TableKind::Mbr, &parts, 200 * MIB, 0, &l);
        assert_eq!(l.parts[2].new_start, l.parts[1].new_end() + MIB);
    }

    #[test]
    fn cylinder_aligned_partitions_are_not_moved_just_to_align() {
        // An old DOS layout: p1 at sector 63, logicals 63 sectors after their EBRs.
        let cyl = 255 * 63 * SS;
        let parts = [
            part(1, 63 * SS, cyl * 100 - 63 * SS),
            logical(5, cyl * 100 + 63 * SS, cyl * 50 - 63 * SS),
            logical(6, cyl * 150 + 63 * SS, cyl * 50 - 63 * SS),
        ];
        let l = lay_out(TableKind::Mbr, SS, &parts, 8 * GIB, 0, Policy::Grow, None).unwrap();
        check_rules(TableKind::Mbr, &parts, 8 * GIB, 0, &l);
        assert!(l.parts.iter().all(|p| !p.moved()));
        assert!(l.parts[2].resized() && l.parts[2].new_len.is_multiple_of(MIB));
    }

    #[test]
    fn mbr_layouts_stop_at_2_tib() {
        let parts = [part(1, MIB, 100 * MIB)];
        let l = lay_out(TableKind::Mbr, SS, &parts, 4 << 40, 0, Policy::Auto, None).unwrap();
        check_rules(TableKind::Mbr, &parts, 4 << 40, 0, &l);
        assert_eq!(l.parts[0].new_end(), 2 << 40);
    }

    #[test]
    fn nonsense_input_is_invalid_not_a_panic() {
        let bad: [&[Input]; 4] = [
            &[part(1, MIB, 0)],
            &[part(1, MIB + 1, MIB)],
            &[part(1, MIB, 10 * MIB), part(2, 5 * MIB, 10 * MIB)],
            &[part(1, u64::MAX - 511, 512 * 1024)],
        ];
        for parts in bad {
            assert!(matches!(
                lay_out(TableKind::Gpt, SS, parts, GIB, GPT_END, Policy::Fit, None),
                Err(Error::Invalid(_))
            ));
        }
        let twice = [part(1, MIB, MIB), part(1, 2 * MIB, MIB)];
        assert!(lay(&twice, GIB, Policy::Keep, None).is_err());
        assert!(lay_out(TableKind::None, SS, &[], GIB, 0, Policy::Keep, None).is_err());
        assert!(lay_out(TableKind::Gpt, 1000, &[], GIB, 0, Policy::Keep, None).is_err());
    }

    #[test]
    fn random_layouts_keep_every_rule_or_refuse() {
        let mut seed = 0x853c_49e6_748f_ea9bu64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let policies = [
            Policy::Auto,
            Policy::Keep,
            Policy::Grow,
            Policy::Fit,
            Policy::Proportional,
        ];
        let mut ok = 0;
        for round in 0..3000 {
            let n = 1 + next() % 6;
            let mut cursor = (1 + next() % 2048) * SS;
            let mut parts = Vec::new();
            let mbr = round % 2 == 0;
            for i in 0..n {
                let logical = mbr && i > 0 && next() % 2 == 0;
                cursor += (next() % 4096) * SS + if logical { SS } else { 0 };
                let len = (1 + next() % 400_000) * SS;
                let mut p = part(i as u32 + 1, cursor, len);
                p.logical = logical;
                p.used = next() % len;
                match next() % 5 {
                    0 => p = fixed(p.number, p.start, p.len, "fixed"),
                    1 => {
                        p.min_len = None;
                        p.no_shrink = Some("no".into());
                    }
                    2 => p.no_grow = Some("no".into()),
                    _ => p.min_len = Some(p.used + next() % (len - p.used + 1)),
                }
                p.logical = logical;
                cursor += len;
                parts.push(p);
            }
            let (kind, reserve) = if mbr {
                (TableKind::Mbr, 0)
            } else {
                (TableKind::Gpt, GPT_END)
            };
            let target = cursor / 4 + next() % (cursor * 2);
            let policy = policies[(next() % 5) as usize];
            match lay_out(kind, SS, &parts, target, reserve, policy, None) {
                Ok(l) => {
                    check_rules(kind, &parts, target, reserve, &l);
                    ok += 1;
                }
                Err(Error::Refused { .. }) => {}
                Err(e) => panic!("{e} for {parts:?} on {target}"),
            }
        }
        assert!(ok > 1000, "only {ok} layouts succeeded");
    }
}
