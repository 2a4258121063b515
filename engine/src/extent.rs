//! Sorted, non-overlapping byte ranges: the currency of used-block maps and copy plans.

use serde::{Deserialize, Serialize};

/// A half-open byte range `[start, start + len)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Extent {
    pub start: u64,
    pub len: u64,
}

impl Extent {
    pub fn new(start: u64, len: u64) -> Self {
        Extent { start, len }
    }
    pub fn end(&self) -> u64 {
        self.start + self.len
    }
}

/// A set of byte ranges kept sorted and coalesced (adjacent or overlapping ranges merge).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ExtentList {
    extents: Vec<Extent>,
}

impl ExtentList {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a range. Appending in ascending order is O(1); out-of-order inserts are handled too.
    pub fn push(&mut self, start: u64, len: u64) {
        if len == 0 {
            return;
        }
        if let Some(last) = self.extents.last_mut() {
            if start >= last.start {
                if start <= last.end() {
                    let end = last.end().max(start + len);
                    last.len = end - last.start;
                } else {
                    self.extents.push(Extent::new(start, len));
                }
                return;
            }
        } else {
            self.extents.push(Extent::new(start, len));
            return;
        }
        self.extents.push(Extent::new(start, len));
        self.normalize();
    }

    fn normalize(&mut self) {
        self.extents.sort();
        let mut out: Vec<Extent> = Vec::with_capacity(self.extents.len());
        for e in self.extents.drain(..) {
            match out.last_mut() {
                Some(last) if e.start <= last.end() => {
                    let end = last.end().max(e.end());
                    last.len = end - last.start;
                }
                _ => out.push(e),
            }
        }
        self.extents = out;
    }

    pub fn iter(&self) -> impl Iterator<Item = &Extent> {
        self.extents.iter()
    }
    pub fn as_slice(&self) -> &[Extent] {
        &self.extents
    }
    pub fn is_empty(&self) -> bool {
        self.extents.is_empty()
    }
    pub fn len(&self) -> usize {
        self.extents.len()
    }
    /// Total bytes covered.
    pub fn total(&self) -> u64 {
        self.extents.iter().map(|e| e.len).sum()
    }

    /// Every range moved by `delta` bytes (a filesystem map made absolute on its disk).
    pub fn shifted(&self, delta: u64) -> ExtentList {
        ExtentList {
            extents: self
                .extents
                .iter()
                .map(|e| Extent::new(e.start + delta, e.len))
                .collect(),
        }
    }

    /// The parts of this set inside `[start, end)`.
    pub fn clipped(&self, start: u64, end: u64) -> ExtentList {
        let mut out = ExtentList::new();
        let first = self.extents.partition_point(|e| e.end() <= start);
        for e in &self.extents[first..] {
            if e.start >= end {
                break;
            }
            let s = e.start.max(start);
            let t = e.end().min(end);
            if t > s {
                out.extents.push(Extent::new(s, t - s));
            }
        }
        out
    }

    /// Bytes covered inside `[start, end)`.
    pub fn covered(&self, start: u64, end: u64) -> u64 {
        self.clipped(start, end).total()
    }

    /// This set without the ranges of `other` (both sorted), in linear time.
    pub fn minus(&self, other: &ExtentList) -> ExtentList {
        let mut out = ExtentList::new();
        let mut cut = other.extents.iter().peekable();
        for e in &self.extents {
            let mut pos = e.start;
            while let Some(c) = cut.peek() {
                if c.end() <= pos {
                    cut.next();
                    continue;
                }
                if c.start >= e.end() {
                    break;
                }
                if c.start > pos {
                    out.extents.push(Extent::new(pos, c.start - pos));
                }
                pos = pos.max(c.end());
                if c.end() > e.end() {
                    break;
                }
                cut.next();
            }
            if pos < e.end() {
                out.extents.push(Extent::new(pos, e.end() - pos));
            }
        }
        out
    }
}

impl FromIterator<Extent> for ExtentList {
    fn from_iter<I: IntoIterator<Item = Extent>>(iter: I) -> Self {
        let mut l = ExtentList::new();
        for e in iter {
            l.push(e.start, e.len);
        }
        l
    }
}

/// Builds an extent list from a bitmap of allocation units, least significant bit first
/// (the bit order of ext4, FAT-derived maps and NTFS `$Bitmap`).
///
/// `first_unit` is the unit number of bit 0, `unit_bytes` the size of a unit, `units` how many
/// bits are valid, `base` the byte offset of unit 0.
pub fn push_bitmap_lsb(
    list: &mut ExtentList,
    bitmap: &[u8],
    first_unit: u64,
    units: u64,
    unit_bytes: u64,
    base: u64,
) {
    let units = units.min(bitmap.len() as u64 * 8);
    let mut i = 0u64;
    while i < units {
        let byte = bitmap[(i / 8) as usize];
        // Fast paths for whole bytes: free and fully used.
        if i.is_multiple_of(8) && i + 8 <= units && (byte == 0 || byte == 0xff) {
            if byte == 0xff {
                list.push(base + (first_unit + i) * unit_bytes, 8 * unit_bytes);
            }
            i += 8;
            continue;
        }
        if byte & (1 << (i % 8)) != 0 {
            list.push(base + (first_unit + i) * unit_bytes, unit_bytes);
        }
        i += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minus_cuts_holes_edges_and_spans() {
        let set: ExtentList = [
            Extent::new(0, 100),
            Extent::new(200, 100),
            Extent::new(400, 50),
        ]
        .into_iter()
        .collect();
        let cut: ExtentList = [
            Extent::new(10, 20),
            Extent::new(90, 120),
            Extent::new(420, 100),
        ]
        .into_iter()
        .collect();
        let got: Vec<(u64, u64)> = set.minus(&cut).iter().map(|e| (e.start, e.len)).collect();
        assert_eq!(got, vec![(0, 10), (30, 60), (210, 90), (400, 20)]);
        assert_eq!(set.minus(&ExtentList::new()), set);
        assert!(set.minus(&set).is_empty());
        // Brute force over a small universe.
        let a: ExtentList = [Extent::new(3, 5), Extent::new(9, 7), Extent::new(20, 1)]
            .into_iter()
            .collect();
        let b: ExtentList = [Extent::new(0, 4), Extent::new(7, 3), Extent::new(12, 9)]
            .into_iter()
            .collect();
        let d = a.minus(&b);
        for x in 0..32 {
            let want = a.covered(x, x + 1) == 1 && b.covered(x, x + 1) == 0;
            assert_eq!(d.covered(x, x + 1) == 1, want, "byte {x}");
        }
    }

    #[test]
    fn adjacent_and_overlapping_ranges_merge() {
        let mut l = ExtentList::new();
        l.push(0, 10);
        l.push(10, 5);
        l.push(30, 5);
        l.push(12, 20);
        assert_eq!(l.as_slice(), &[Extent::new(0, 35)]);
        l.push(100, 1);
        l.push(50, 1);
        assert_eq!(
            l.as_slice(),
            &[Extent::new(0, 35), Extent::new(50, 1), Extent::new(100, 1)]
        );
        assert_eq!(l.total(), 37);
    }

    #[test]
    fn clipping_keeps_only_the_window() {
        let l: ExtentList = [Extent::new(0, 10), Extent::new(20, 10)]
            .into_iter()
            .collect();
        assert_eq!(
            l.clipped(5, 25).as_slice(),
            &[Extent::new(5, 5), Extent::new(20, 5)]
        );
        assert_eq!(l.covered(0, 100), 20);
        assert!(l.clipped(10, 20).is_empty());
    }

    #[test]
    fn lsb_bitmap_becomes_byte_ranges() {
        let mut l = ExtentList::new();
        // units 0,1 used; 2..8 free; 8..16 used; 16 used
        push_bitmap_lsb(&mut l, &[0b0000_0011, 0xff, 0x01], 0, 17, 4096, 1 << 20);
        assert_eq!(
            l.as_slice(),
            &[
                Extent::new(1 << 20, 8192),
                Extent::new((1 << 20) + 8 * 4096, 9 * 4096)
            ]
        );
    }
}
