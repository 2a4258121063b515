//! Used-block map of ext2/3/4 (block group bitmaps, flex_bg, 64bit, uninitialised groups).

use super::{Filesystem, FsInfo};
use crate::device::ReadAt;
use crate::error::Result;

pub struct Ext;

impl Filesystem for Ext {
    fn name(&self) -> &'static str {
        "ext"
    }
    fn probe(&self, _dev: &dyn ReadAt) -> Result<Option<FsInfo>> {
        Ok(None)
    }
}
