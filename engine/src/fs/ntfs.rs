//! Used-block map of NTFS (the $Bitmap file, MFT record 6).

use super::{Filesystem, FsInfo};
use crate::device::ReadAt;
use crate::error::Result;

pub struct Ntfs;

impl Filesystem for Ntfs {
    fn name(&self) -> &'static str {
        "ntfs"
    }
    fn probe(&self, _dev: &dyn ReadAt) -> Result<Option<FsInfo>> {
        Ok(None)
    }
}
