//! Used-block map of FAT12/16/32 (the allocation table).

use super::{Filesystem, FsInfo};
use crate::device::ReadAt;
use crate::error::Result;

pub struct Fat;

impl Filesystem for Fat {
    fn name(&self) -> &'static str {
        "fat"
    }
    fn probe(&self, _dev: &dyn ReadAt) -> Result<Option<FsInfo>> {
        Ok(None)
    }
}
