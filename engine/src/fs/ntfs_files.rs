//! NTFS: which files own given byte ranges (to come).
use super::FileTouches;
use crate::device::ReadAt;
use crate::error::{Error, Result};
use crate::events::Cancel;
use crate::extent::ExtentList;

pub(super) fn files_touching(
    _dev: &dyn ReadAt,
    _bad: &ExtentList,
    _limit: usize,
    _cancel: &Cancel,
) -> Result<FileTouches> {
    Err(Error::Unsupported("ntfs".into()))
}
