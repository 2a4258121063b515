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
sectors were unreadable (zeros in the copy; see the report and mapfile) or, for extract, some\n\
entries were skipped (see the warnings), 130 cancelled (Ctrl-C).\n\
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
    /// List a directory of a partition inside a saved image (or disk image file), like `ls -l`,
    /// without restoring or mounting it: ext2/3/4, FAT12/16/32 and NTFS.
    Files {
        /// REPO:NAME[@ID], or a disk image file.
        source: String,
        /// PARTITION[:/path]: the partition's number as `wraith info` shows it (0 for a disk
        /// without a partition table), then a directory or file in it (default: /).
        at: String,
    },
    /// Copy a file or a directory tree out of a partition inside a saved image (or disk image
    /// file), without restoring or mounting it. Keeps times, and on ext the mode bits,
    /// symlinks and hard links (owners too when run as root). Names from the image that are
    /// unsafe (`/`, NUL, `.`, `..`) are skipped with a warning; nothing is written outside DEST
    /// or through a symlink. NTFS compressed files are decompressed; encrypted files (NTFS
    /// EFS, ext4) are refused by name. Exit code 3 when some entries were skipped.
    Extract {
        /// REPO:NAME[@ID], or a disk image file.
        source: String,
        /// PARTITION:/path: the partition's number, then the file or directory to copy.
        at: String,
        /// Where to put it: a new path, or an existing directory to put it in (the root
        /// partition's contents go straight into it).
        dest: PathBuf,
        /// Replace files and symlinks already at DEST (directories are merged, never emptied).
        #[arg(long)]
        force: bool,
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
        /// A disk or disk image file; a .qcow2, .vhdx or .vmdk file (found by its contents) is
        /// saved as the virtual disk it holds.
        disk: PathBuf,
        /// REPO or REPO:NAME (default name: from the disk's model and serial, or file name).
        /// A directory whose name holds ':' is written with a trailing '/'.
        repo: String,
        /// Afterwards, compare the disk with the stored image.
        #[arg(long)]
        verify: bool,
        /// Forensic acquisition: store every sector (free space and unallocated areas too,
        /// still deduplicated and compressed) and record the whole disk's SHA-256 and MD5,
        /// computed while reading; `export` of the image to .raw reproduces them.
        #[arg(long)]
        all_sectors: bool,
        /// Speed or size for the chunks this save stores: fast (zstd 1), balanced (zstd 4),
        /// small (zstd 6). Default: the repository's (a new repository takes this as its
        /// default; balanced otherwise).
        #[arg(long, value_name = "fast|balanced|small")]
        compression: Option<wraith_engine::repo::Compression>,
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
        /// every piece checked first; see `wraith import clonezilla`), or
        /// mcast://SERVER[:HTTPPORT][/PATH]/NAME[@ID]: join SERVER's multicast session
        /// (`wraith serve --multicast`) and fill in what the stream misses from its HTTP
        /// repository.
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
        /// Afterwards, give the restored system this name (Linux: /etc/hostname and
        /// /etc/hosts, a new machine id and SSH host keys at first boot; Windows: the computer
        /// name Setup sets after sysprep). A template may use {serial} and {mac}.
        #[arg(long, value_name = "NAME")]
        hostname: Option<String>,
        #[command(flatten)]
        multicast: MulticastArgs,
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
    /// Serve an image as a block device over NBD, without restoring it: qemu-img, qemu-io,
    /// nbd-client or a VM read it as the saved disk (free space reads as zeros, and is told
    /// to clients as holes). Read-only unless --writable-overlay. Prints the URL to use
    /// (nbd://127.0.0.1:10809/NAME, or nbd+unix:///NAME?socket=PATH) and runs until Ctrl-C
    /// (exit code 0).
    Nbd {
        /// REPO:NAME or REPO:NAME@ID.
        image: String,
        /// Address and port to listen on; port 0 takes any free port (the URL printed says
        /// which). Only this machine can connect unless ADDR is one other machines reach.
        #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:10809")]
        listen: String,
        /// Listen on a Unix socket at PATH instead of TCP.
        #[arg(long, value_name = "PATH", conflicts_with = "listen")]
        socket: Option<PathBuf>,
        /// Let clients write: writes go to FILE (a sparse file, created if missing), with
        /// FILE.map beside it recording the written blocks and the image they belong to.
        /// Served again with the same FILE, the writes are still there. The image and the
        /// repository never change; FILE made for another image is refused.
        #[arg(long, value_name = "FILE")]
        writable_overlay: Option<PathBuf>,
        /// Stop when the first client disconnects (for scripts).
        #[arg(long)]
        once: bool,
    },
    /// Show a saved image as a directory, without restoring it: DIR gets `disk` (the whole
    /// disk, read-only) and one sub-directory per partition (`p1`, `p2`, …), each mounted
    /// read-only by the kernel (ext2/3/4, FAT, NTFS, and whatever else the kernel reads) or by
    /// fuse2fs / ntfs-3g where the kernel lacks the filesystem, else by Wraith's own readers. Chunks are read from the
    /// repository only when a program reads them. `wraith mount` returns once DIR is ready and
    /// keeps serving in the background; `wraith umount DIR` ends it.
    Mount {
        /// REPO:NAME or REPO:NAME@ID.
        image: String,
        /// An existing empty directory.
        dir: PathBuf,
        /// How the disk reaches the kernel: `nbd` (the kernel's NBD driver), `fuse` (a file
        /// through FUSE, for kernels without NBD) or `auto` (NBD when the kernel has it).
        #[arg(long, value_name = "auto|nbd|fuse", default_value = "auto")]
        via: String,
        /// Stay in the foreground serving the image until Ctrl-C (or `wraith umount DIR`).
        #[arg(long)]
        foreground: bool,
    },
    /// Unmount an image mounted by `wraith mount`: its partitions, its disk and DIR, and stop
    /// the process serving it. Also tidies up after a `wraith mount` that was killed.
    Umount {
        dir: PathBuf,
        /// Detach partitions that a program still uses (it keeps what it has open; it reads
        /// errors once the serving process is gone) instead of refusing.
        #[arg(long)]
        lazy: bool,
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
    /// Serve a repository to a room over HTTP: the repository read-only (`wraith restore
    /// http://SERVER:PORT/repo:NAME`), the network-boot files with an iPXE script made for
    /// this server, and per-machine jobs (`jobs/<MAC>.toml`, else `jobs/default.toml`, with
    /// `{server}` replaced by this server's address). Jobs keep their results in the
    /// repository's `results/`; nothing else is written. Shows the room's machines as a live
    /// table (JSON lines with --json) until Ctrl-C.
    Serve {
        /// The repository directory.
        repo: PathBuf,
        /// Address and port to listen on (default 0.0.0.0:8080; port 0 takes a free one).
        #[arg(long, value_name = "ADDR:PORT")]
        listen: Option<String>,
        /// The network interface of the room (default: the first wired one with an IPv4
        /// address).
        #[arg(long, value_name = "IF")]
        interface: Option<String>,
        /// Network boot: run dnsmasq for proxy-DHCP (or DHCP with --dhcp-range) and TFTP,
        /// handing BIOS and UEFI machines iPXE, which boots Wraith from this server.
        #[arg(long)]
        pxe: bool,
        /// Be the LAN's DHCP server, leasing FIRST to LAST (only on a LAN without one).
        #[arg(long, value_name = "FIRST,LAST", requires = "pxe")]
        dhcp_range: Option<String>,
        /// Where vmlinuz and initramfs.zst are (default: the live system's own medium, or
        /// out/pxe of this checkout).
        #[arg(long, value_name = "DIR")]
        boot_dir: Option<PathBuf>,
        /// The job files (default: REPO/jobs when it exists; then hidden from the listing).
        #[arg(long, value_name = "DIR")]
        jobs: Option<PathBuf>,
        /// Wake these machines with Wake-on-LAN magic packets first.
        #[arg(long, value_name = "MAC", num_args = 1..)]
        wake: Vec<String>,
        /// Wake the machines listed in FILE (one MAC per line, then anything; # comments).
        #[arg(long, value_name = "FILE")]
        wake_from: Option<PathBuf>,
        /// The directory holding undionly.kpxe and snponly.efi (default /usr/lib/ipxe).
        #[arg(long, value_name = "DIR", hide = true)]
        rom_dir: Option<PathBuf>,
        /// Send magic packets to this address instead of the subnet's broadcast (tests).
        #[arg(long, value_name = "ADDR", hide = true)]
        wake_to: Option<std::net::Ipv4Addr>,
        /// More kernel parameters for network-booted machines (e.g. wraith.keymap=de).
        #[arg(long, value_name = "ARGS")]
        kernel_args: Option<String>,
        #[command(flatten)]
        multicast: ServeMulticastArgs,
    },
    /// Write an image as a VM disk file a hypervisor boots: raw (.raw, .img), qcow2 (QEMU,
    /// Proxmox), VHDX (Hyper-V, dynamic) or VMDK (VMware, monolithicSparse). The file is
    /// sparse: only blocks holding data are written. It is written as OUT.partial and renamed
    /// when complete, so a failed or cancelled export leaves no half file.
    Export {
        /// REPO:NAME or REPO:NAME@ID.
        image: String,
        /// The file to write; its extension chooses the format.
        out: PathBuf,
        /// Overwrite OUT if it exists (refused without).
        #[arg(long)]
        force: bool,
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

/// `wraith serve --multicast IMAGE`: one stream for the whole room.
#[derive(clap::Args, Debug, Clone)]
pub struct ServeMulticastArgs {
    /// Send this image (NAME or NAME@ID) to the room by multicast; machines join with
    /// `wraith restore mcast://SERVER/NAME DISK` or a job with `multicast = true`.
    #[arg(long, value_name = "IMAGE")]
    pub multicast: Option<String>,
    /// Start the stream once this many machines joined (else when --wait has passed).
    #[arg(long, value_name = "N", default_value_t = 0, requires = "multicast")]
    pub clients: usize,
    /// Start the stream after this many seconds, however many joined.
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 60,
        requires = "multicast"
    )]
    pub wait: u64,
    /// Sending rate in Mbit/s (the stream never waits for a slow machine: it fills in over
    /// HTTP). 500 suits a gigabit LAN; use less on 100 Mbit/s.
    #[arg(
        long,
        value_name = "MBPS",
        default_value_t = 500,
        requires = "multicast"
    )]
    pub rate: u32,
    /// Proactive recovery data, percent of each chunk (lost datagrams beyond it are repaired
    /// on request, then over HTTP).
    #[arg(long, value_name = "PCT", default_value_t = wraith_engine::mcast::sender::DEFAULT_FEC_PERCENT, requires = "multicast")]
    pub fec: u32,
    /// The multicast group the stream goes to.
    #[arg(long, default_value_t = wraith_engine::mcast::DEFAULT_GROUP, requires = "multicast")]
    pub group: std::net::Ipv4Addr,
    /// UDP control port (the stream uses the next one).
    #[arg(long, default_value_t = wraith_engine::mcast::DEFAULT_PORT, requires = "multicast")]
    pub port: u16,
    /// Multicast TTL: 1 stays on this LAN; more crosses routers that forward multicast.
    #[arg(long, default_value_t = 1, requires = "multicast")]
    pub ttl: u32,
}

/// How an mcast:// restore reaches its session.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct MulticastArgs {
    /// mcast:// only: the sender's UDP control port (the stream uses the next one).
    #[arg(long, default_value_t = wraith_engine::mcast::DEFAULT_PORT)]
    pub port: u16,
    /// mcast:// only: listen to this multicast group instead of the one the sender names.
    #[arg(long)]
    pub group: Option<std::net::Ipv4Addr>,
    /// mcast:// only: the network interface (name or IPv4 address) to receive on.
    #[arg(long)]
    pub interface: Option<String>,
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
