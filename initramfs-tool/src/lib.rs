//! initramfs-tool builds Wraith's initramfs from data: it reads rootfs.toml (binaries, files,
//! trees, directories, symlinks, device nodes), pulls in the shared libraries and ELF
//! interpreter each binary needs by reading its ELF headers, and writes a deterministic newc
//! cpio archive (sorted, fixed mtime, owner 0:0, sequential inodes), optionally zstd-compressed;
//! it also reads such archives back, defensively, for listing and tests.
//!
//! It owns the archive format and the question "which host files does this binary need".
//! It must not decide what the live system contains (that is rootfs/rootfs.toml), must not
//! need root (device nodes are written as archive records, never created with mknod), must
//! not print or exit (warnings are returned; the CLI in main.rs reports them), and must not
//! let the build machine's clock, umask, uid or directory order leak into the output.

pub mod build;
pub mod config;
pub mod elf;
pub mod error;
pub mod image;
pub mod newc;

pub use build::{build, BuildOptions, Built};
pub use config::Config;
pub use error::{Error, Result};
pub use image::{Image, Kind};
pub use newc::{compress_zstd, read_archive, read_newc, write_image, ArchiveEntry};

/// Default zstd level: the archive is built rarely and unpacked on every boot.
pub const DEFAULT_ZSTD_LEVEL: i32 = 19;

/// Default ceiling for decompressed archives read back (1 GiB): far above any initramfs,
/// far below what would hurt the machine.
pub const DEFAULT_READ_LIMIT: u64 = 1 << 30;

/// Builds the uncompressed newc bytes for `config`; returns them with the build's warnings.
pub fn build_cpio(
    config: &Config,
    opts: &BuildOptions,
    mtime: u32,
) -> Result<(Vec<u8>, Vec<String>)> {
    let built = build(config, opts)?;
    let bytes = write_image(&built.image, mtime)?;
    Ok((bytes, built.warnings))
}

/// Reads SOURCE_DATE_EPOCH the way reproducible-builds.org specifies it: unset means 0 here
/// (no wall clock, ever); set but not a number that fits newc's 32-bit field is an error.
pub fn source_date_epoch(value: Option<&str>) -> Result<u32> {
    match value {
        None => Ok(0),
        Some(v) => v.trim().parse::<u32>().map_err(|_| {
            Error::Config(format!(
                "SOURCE_DATE_EPOCH={v:?} is not a number of seconds from 0 to {}",
                u32::MAX
            ))
        }),
    }
}
