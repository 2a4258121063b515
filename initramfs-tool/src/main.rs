//! CLI over the initramfs_tool library: `build` an archive from rootfs.toml, `list` one.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand, ValueEnum};
use initramfs_tool::{image, newc, BuildOptions, Config};

#[derive(Parser)]
#[command(
    name = "initramfs-tool",
    version,
    about = "Build and inspect Wraith's initramfs (newc cpio + zstd)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum Compression {
    Zstd,
    None,
}

#[derive(Subcommand)]
enum Command {
    /// Build an archive. mtime comes from SOURCE_DATE_EPOCH (default 0).
    Build {
        /// rootfs.toml
        #[arg(long)]
        config: PathBuf,
        /// Directory copied over / after the config's entries (repeatable).
        #[arg(long)]
        overlay: Vec<PathBuf>,
        /// NAME=VALUE for ${NAME} in the config (repeatable).
        #[arg(long = "var", value_name = "NAME=VALUE")]
        vars: Vec<String>,
        /// Output file (written atomically: temp file then rename).
        #[arg(short, long)]
        output: PathBuf,
        #[arg(long, value_enum, default_value = "zstd")]
        compress: Compression,
        /// zstd level (1-22).
        #[arg(long, default_value_t = initramfs_tool::DEFAULT_ZSTD_LEVEL)]
        level: i32,
    },
    /// Print the entries of an archive (newc, plain or zstd): mode, owner, size, path.
    List { file: PathBuf },
}

fn main() {
    match run() {
        Ok(()) => {}
        Err(e) => {
            eprintln!("initramfs-tool: {e:#}");
            std::process::exit(2);
        }
    }
}

fn run() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Build {
            config,
            overlay,
            vars,
            output,
            compress,
            level,
        } => {
            let cfg = Config::load(&config)?;
            let mut var_map = BTreeMap::new();
            for v in vars {
                let Some((name, value)) = v.split_once('=') else {
                    bail!("--var {v:?}: expected NAME=VALUE");
                };
                var_map.insert(name.to_string(), value.to_string());
            }
            let epoch = std::env::var("SOURCE_DATE_EPOCH").ok();
            let mtime = initramfs_tool::source_date_epoch(epoch.as_deref())?;
            let opts = BuildOptions {
                vars: var_map,
                overlays: overlay,
            };
            let built = initramfs_tool::build(&cfg, &opts)?;
            for w in &built.warnings {
                eprintln!("warning: {w}");
            }
            let raw = newc::write_image(&built.image, mtime)?;
            let bytes = match compress {
                Compression::Zstd => newc::compress_zstd(&raw, level)?,
                Compression::None => raw.clone(),
            };
            write_atomically(&output, &bytes)?;
            eprintln!(
                "{}: {} entries, {} bytes of content, cpio {} bytes, written {} bytes",
                output.display(),
                built.image.len(),
                built.image.payload_bytes(),
                raw.len(),
                bytes.len()
            );
        }
        Command::List { file } => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let entries = newc::read_archive(&bytes, initramfs_tool::DEFAULT_READ_LIMIT)
                .with_context(|| format!("reading {}", file.display()))?;
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            for e in &entries {
                writeln!(out, "{}", list_line(e))?;
            }
        }
    }
    Ok(())
}

/// One `ls -l`-like line: type and permissions, uid/gid, size (or major, minor), path.
fn list_line(e: &newc::ArchiveEntry) -> String {
    let (t, size) = match e.file_type() {
        image::S_IFDIR => ('d', e.data.len().to_string()),
        image::S_IFLNK => ('l', e.data.len().to_string()),
        image::S_IFCHR => ('c', format!("{}, {}", e.rdev_major, e.rdev_minor)),
        image::S_IFBLK => ('b', format!("{}, {}", e.rdev_major, e.rdev_minor)),
        image::S_IFREG => ('-', e.data.len().to_string()),
        _ => ('?', e.data.len().to_string()),
    };
    let mut perms: Vec<char> = "rwxrwxrwx"
        .chars()
        .enumerate()
        .map(|(i, c)| if e.mode & (0o400 >> i) != 0 { c } else { '-' })
        .collect();
    // setuid, setgid and sticky show in the x columns, as ls does (/tmp is drwxrwxrwt).
    for (bit, col, set) in [(0o4000, 2, 's'), (0o2000, 5, 's'), (0o1000, 8, 't')] {
        if e.mode & bit != 0 {
            perms[col] = if perms[col] == 'x' {
                set
            } else {
                set.to_ascii_uppercase()
            };
        }
    }
    let perms: String = perms.into_iter().collect();
    let mut line = format!(
        "{t}{perms} {:>4}/{:<4} {:>10} /{}",
        e.uid,
        e.gid,
        size,
        e.name.trim_start_matches('/')
    );
    if e.file_type() == image::S_IFLNK {
        line.push_str(" -> ");
        line.push_str(&String::from_utf8_lossy(&e.data));
    }
    line
}

/// A half-written initramfs must never be mistaken for a finished one.
fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path)
        .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))?;
    Ok(())
}
