//! `./build.sh run` while there is no bootable image yet: builds demo disks with real tools,
//! then shows the `wraith` commands a technician would use on them, and checks each result
//! with the real fsck tools and the files inside.
//!
//! Usage: wraith-demo WRAITH_BINARY OUT_DIR     the CLI demonstration
//!        wraith-demo --disks OUT_DIR            only write demo disks (gpt.img, mbr.img,
//!                                               blank.img) for `./build.sh run`

use std::path::{Path, PathBuf};
use std::process::Command;
use wraith_testkit::{self as kit, Disk, MIB};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() == 3 && args[1] == "--disks" {
        if let Err(e) = write_disks(Path::new(&args[2])) {
            eprintln!("making demo disks failed: {e}");
            std::process::exit(1);
        }
        return;
    }
    if args.len() != 3 {
        eprintln!("usage: wraith-demo WRAITH_BINARY OUT_DIR");
        std::process::exit(2);
    }
    if let Err(e) = demo(Path::new(&args[1]), Path::new(&args[2])) {
        eprintln!("demo failed: {e}");
        std::process::exit(1);
    }
}

fn step(title: &str) {
    println!("\n\x1b[1m== {title}\x1b[0m");
}

fn wraith(bin: &Path, args: &[&str]) -> kit::Result<()> {
    println!("$ wraith {}", args.join(" "));
    let status = Command::new(bin).args(args).status()?;
    if !status.success() {
        return Err(format!("wraith {} exited with {status}", args.join(" ")).into());
    }
    Ok(())
}

fn check(fixture: &Disk, copy: &Path) -> kit::Result<()> {
    for p in &fixture.parts {
        kit::fsck(copy, p)?;
        if kit::files(copy, p)? != p.files {
            return Err(format!("partition {}: files differ", p.number).into());
        }
        println!(
            "  partition {} ({:?} {:?}): fsck clean, {} files identical",
            p.number,
            p.fs,
            p.label,
            p.files.len()
        );
    }
    Ok(())
}

fn demo(bin: &Path, out: &Path) -> kit::Result<()> {
    std::fs::create_dir_all(out)?;
    let p = |name: &str| -> PathBuf { out.join(name) };
    for f in ["repo", "restored.img", "clone.img"] {
        let path = p(f);
        if path.is_dir() {
            std::fs::remove_dir_all(&path)?;
        } else if path.exists() {
            std::fs::remove_file(&path)?;
        }
    }
    let s = |p: &Path| p.display().to_string();

    step(
        "Demo disks, made by sfdisk, mkfs.vfat, mkfs.ext4 and mkntfs (free space full of old data)",
    );
    let mut gpt = kit::gpt_disk();
    let mbr = kit::mbr_disk();
    println!("  {} — GPT: FAT32 ESP, ext4, NTFS", s(&gpt.path));
    println!(
        "  {} — MBR: FAT16, extended with ext3, FAT12, ext2, boot code",
        s(&mbr.path)
    );

    step("What is on the GPT disk and how it would be copied");
    wraith(bin, &["info", &s(&gpt.path)])?;

    step("Save it into a repository");
    let repo = p("repo");
    let image = format!("{}:workstation", s(&repo));
    wraith(bin, &["save", &s(&gpt.path), &image])?;

    step("Change a few files and save again: only the changes are stored");
    kit::modify_small(&gpt.path.clone(), &mut gpt.parts[1])?;
    wraith(bin, &["save", &s(&gpt.path), &image])?;
    wraith(bin, &["list", &s(&repo)])?;

    step("Restore the newest image onto a larger blank disk");
    let target = p("restored.img");
    std::fs::File::create(&target)?.set_len(256 * MIB)?;
    wraith(bin, &["restore", &image, &s(&target), "--yes"])?;
    check(&gpt, &target)?;

    step("Verify the repository, and the restored disk against its image");
    wraith(bin, &["verify", &s(&repo)])?;
    wraith(bin, &["verify", &image, "--against", &s(&target)])?;

    step("Clone the MBR disk (logical partitions, boot code) disk to disk");
    let clone = p("clone.img");
    wraith(bin, &["clone", &s(&mbr.path), &s(&clone), "--yes"])?;
    check(&mbr, &clone)?;

    step("Done");
    println!(
        "  repository: {}\n  restored disk: {}\n  cloned disk: {}",
        s(&repo),
        s(&target),
        s(&clone)
    );
    Ok(())
}

/// Demo disks for the VM: copies of the fixtures plus a blank disk to restore or clone onto.
fn write_disks(out: &Path) -> kit::Result<()> {
    std::fs::create_dir_all(out)?;
    for (name, disk) in [("gpt.img", kit::gpt_disk()), ("mbr.img", kit::mbr_disk())] {
        let dest = out.join(name);
        let _ = std::fs::remove_file(&dest);
        // copy_range compares with what the destination holds, so it needs read access too.
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&dest)?;
        f.set_len(disk.size)?;
        kit::copy_range(&std::fs::File::open(&disk.path)?, 0, disk.size, &f, 0)?;
        println!("demo disk: {}", dest.display());
    }
    let blank = out.join("blank.img");
    let _ = std::fs::remove_file(&blank);
    std::fs::File::create(&blank)?.set_len(256 * MIB)?;
    println!("demo disk: {} (blank)", blank.display());
    Ok(())
}
