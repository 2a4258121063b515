//! Command-line grammar. Help texts are the user documentation of each command.

use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "wraith",
    version,
    about = "Clone, save and restore whole disks: used blocks only, into a deduplicating image repository",
    after_help = "DISK may be /dev/sdX, /dev/nvme0n1, /dev/disk/by-id/..., or a disk image file.\n\
REPO is a directory (on a USB drive, a local disk, a mounted share) or a URL:\n\
  smb://[DOMAIN;][USER@]HOST[:PORT]/SHARE/DIR   nfs://HOST[:PORT]/EXPORT/DIR\n\
  http(s)://[USER@]HOST[:PORT]/DIR   (any web server to read; WebDAV to save)\n\
REPO:NAME names an image, REPO:NAME@ID one particular save of it (an id or a unique prefix;\n\
default: the newest). A password for USER comes from --password-file, WRAITH_PASSWORD, or a\n\
hidden prompt on a terminal; it is never printed or stored.\n\n\
Exit codes: 0 ok, 1 verification found a mismatch, 2 error, 3 completed but some source\n\
sectors were unreadable (zeros in the copy; see the report and mapfile), 130 cancelled (Ctrl-C).\n\
Progress goes to stderr; results to stdout. With --json, events are JSON lines on stderr and\n\
the result is one JSON object on stdout."
)]
pub struct Cli {
    /// Machine-readable output: JSON events on stderr, a JSON result on stdout.
    #[arg(long, global = true)]
    pub json: bool,
    /// Worker threads for hashing and compression (default: every core).
    #[arg(long, global = true)]
    pub threads: Option<usize>,
    /// Read the password for a repository URL's user from this file (first line).
    #[arg(long, global = true, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    /// Without a command: in the live system, the interactive session; on a host, this help.
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// List this machine's disks: model, serial, size, transport, partitions.
    Disks,
    /// Show a disk's partition table and filesystems and how each would be copied, or an image.
    Info {
        /// A disk, a disk image file, REPO:NAME[@ID], or a Clonezilla image directory.
        what: String,
    },
    /// Copy a disk onto another disk: partition table, boot area and used blocks only.
    Clone {
        source: PathBuf,
        /// Target disk; a file that does not exist is created with the source's size.
        target: PathBuf,
        /// Do not ask for the typed confirmation (for scripts).
        #[arg(long, short = 'y')]
        yes: bool,
        /// Afterwards, compare every used byte of the target with the source.
        #[arg(long)]
        verify: bool,
        #[command(flatten)]
        layout: LayoutArgs,
        /// Write onto a target whose drive reports itself failing (SMART, NVMe critical
        /// warning); refused without it.
        #[arg(long)]
        accept_failing_target: bool,
    },
    /// Save a disk as an image in a repository (created if the directory is empty or missing).
    Save {
        disk: PathBuf,
        /// REPO or REPO:NAME (default name: from the disk's model and serial, or file name).
        /// A directory whose name holds ':' is written with a trailing '/'.
        repo: String,
        /// Afterwards, compare the disk with the stored image.
        #[arg(long)]
        verify: bool,
    },
    /// List the images in a repository; with --find, every repository this machine can
    /// reach without typing (attached drives, `wraith.repo=`, the remembered list).
    List {
        /// A directory, label:LABEL/dir, uuid:UUID/dir or a URL.
        #[arg(required_unless_present = "find", conflicts_with = "find")]
        repo: Option<String>,
        /// Look for repositories: every attached filesystem (mounted read-only only while
        /// looking), the kernel's wraith.repo= and the remembered repositories.toml.
        #[arg(long)]
        find: bool,
    },
    /// Write an image back onto a disk: larger disks get the new space, smaller ones take
    /// the partitions shrunk to fit their data (see --layout).
    Restore {
        /// REPO:NAME or REPO:NAME@ID, or a Clonezilla image directory (written directly,
        /// every piece checked first; see `wraith import clonezilla`).
        image: String,
        /// Target disk; a file that does not exist is created with the source disk's size.
        target: PathBuf,
        /// Do not ask for the typed confirmation (for scripts).
        #[arg(long, short = 'y')]
        yes: bool,
        /// Afterwards, compare the target with the image.
        #[arg(long)]
        verify: bool,
        #[command(flatten)]
        layout: LayoutArgs,
        /// Write onto a target whose drive reports itself failing (SMART, NVMe critical
        /// warning); refused without it.
        #[arg(long)]
        accept_failing_target: bool,
    },
    /// Run an unattended job (TOML file, or inline `key=value` words) and print a
    /// `WRAITH-RESULT {json}` line. Exit codes for the live system's init: 100 power off,
    /// 101 reboot, 102 rescue shell, 0 back to the UI.
    Job {
        /// A job file (TOML): a path, `usb` (wraith-job.toml on a USB stick), or an
        /// http(s):// URL to fetch it from.
        #[arg(long, conflicts_with = "inline", required_unless_present = "inline")]
        file: Option<String>,
        /// The job inline: `action=clone source=serial:ABC target=rule:other-internal after=poweroff`.
        #[arg(long)]
        inline: Option<String>,
    },
    /// Bring an image made by another tool into a repository, as a Wraith image.
    Import {
        #[command(subcommand)]
        from: ImportFrom,
    },
    /// Re-hash every chunk of a repository's images, or compare a disk with an image.
    Verify {
        /// REPO (every image), REPO:NAME (its newest) or REPO:NAME@ID.
        what: String,
        /// Compare this disk with the image instead of checking the repository.
        #[arg(long)]
        against: Option<PathBuf>,
    },
}

/// The image formats `wraith import` reads.
#[derive(Subcommand, Debug)]
pub enum ImportFrom {
    /// A Clonezilla image directory (the one holding its `disk` and `parts` files): the
    /// partition table it saved, its partclone images (gz, zst, xz, lz4, bz2 or uncompressed,
    /// split into pieces or not) and dd images. Every piece is decoded and every checksum
    /// checked before anything is written to the repository; only the blocks partclone saved
    /// are stored, and those the repository already holds are not stored again. One disk per
    /// image; MBR logical partitions get a new EBR chain (Clonezilla keeps only the first
    /// EBR). The directory is only read.
    Clonezilla {
        /// The Clonezilla image directory.
        dir: PathBuf,
        /// REPO or REPO:NAME (default name: the directory's name).
        repo: String,
        /// Afterwards, compare the stored image with the Clonezilla image.
        #[arg(long)]
        verify: bool,
    },
}

/// How partitions fit a target of another size (restore, clone).
#[derive(clap::Args, Debug, Clone)]
pub struct LayoutArgs {
    /// Partitions on a disk of another size: auto (grow onto a larger disk, fit onto a smaller
    /// one, keep otherwise), keep (as saved), grow (the last data partition takes a larger
    /// disk's space), fit (shrink to fit a smaller disk, in proportion to the used data),
    /// proportional (every partition scales).
    #[arg(long, default_value = "auto")]
    pub layout: wraith_engine::layout::Policy,
    /// The partition that takes a larger disk's new space (default: the last one that can
    /// grow).
    #[arg(long, value_name = "N")]
    pub grow: Option<u32>,
    /// Directory for a shrink that cannot happen on the target itself (a sparse file of the
    /// partition's used size; default: the repository's drive, then the temp dir).
    #[arg(long, value_name = "DIR")]
    pub scratch: Option<PathBuf>,
}
