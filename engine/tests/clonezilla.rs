//! `clonezilla`: Clonezilla image directories made the way Clonezilla makes them (real
//! partclone, real compressors, `split` into pieces, sfdisk dump and dd'd table sectors) from
//! real mkfs'd disks are imported into a repository and restored from it, or restored directly;
//! the filesystems come back file for file. A damaged or missing piece is refused before the
//! repository is touched, with the piece's name in the error.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use wraith_engine::ops::{self, ClonezillaRestoreChoice, ImportChoice, RestoreChoice};
use wraith_engine::repo::location::Credentials;
use wraith_engine::repo::Repository;
use wraith_testkit::clonezilla::{clonezilla_dir, have_tools, pieces, sh, How, GZ_CRC};
use wraith_testkit::{DiskBuilder, FsType, Table, MIB};

fn import(dir: &Path, repo: &Path, name: &str) -> wraith_engine::Result<ops::Report> {
    let plan = ops::prepare_import(&ImportChoice {
        dir: dir.to_path_buf(),
        repository: repo.display().to_string(),
        credentials: Credentials::default(),
        name: Some(name.into()),
        verify: true,
    })?;
    ops::run(plan, &wraith_engine::events::Ctx::quiet())
}

fn restore_from_repo(repo: &Path, name: &str, target: &Path) {
    let repo = std::sync::Arc::new(Repository::open(repo).unwrap());
    let image = repo
        .images()
        .unwrap()
        .into_iter()
        .find(|i| i.name == name)
        .unwrap();
    let plan = ops::prepare_restore(&RestoreChoice {
        repository: repo,
        image,
        target: target.to_path_buf(),
        verify: true,
        layout: Default::default(),
        accept_failing_target: false,
        naming: None,
    })
    .unwrap();
    ops::run(plan, &wraith_engine::events::Ctx::quiet()).unwrap();
}

fn restore_direct(dir: &Path, target: &Path) -> wraith_engine::Result<ops::Report> {
    let plan = ops::prepare_clonezilla_restore(&ClonezillaRestoreChoice {
        dir: dir.to_path_buf(),
        target: target.to_path_buf(),
        verify: true,
        layout: Default::default(),
        accept_failing_target: false,
    })?;
    ops::run(plan, &wraith_engine::events::Ctx::quiet())
}

/// Every file under `dir` with its size and modification time.
fn snapshot(dir: &Path) -> Vec<(PathBuf, u64)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let md = e.metadata().unwrap();
            if md.is_dir() {
                stack.push(e.path());
            } else {
                out.push((e.path(), md.len()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn gpt_image_imports_dedups_and_restores_file_for_file() {
    if !have_tools() {
        return;
    }
    let src = wraith_testkit::gpt_disk();
    let work = tempfile::tempdir().unwrap();
    let dir = clonezilla_dir(&src, work.path(), "2026-12-03-img", &|_| GZ_CRC);
    assert!(
        pieces(&dir, "sda2.ext4-ptcl-img.gz.").len() > 1,
        "the test must read a stream split into several pieces"
    );
    let repo = work.path().join("repo");
    let first = import(&dir, &repo, "pc").unwrap();
    let stats = first.stats.clone().unwrap();
    assert!(stats.new_stored_bytes > 0);
    // Restored from the repository onto a blank disk of the same size.
    let target = work.path().join("restored.img");
    restore_from_repo(&repo, "pc", &target);
    wraith_testkit::assert_same_filesystems(&src, &target);
    // The table is the saved one: same partitions at the same places.
    assert_eq!(
        wraith_testkit::partition_ranges(&target).unwrap(),
        wraith_testkit::partition_ranges(&src.path).unwrap()
    );

    // The same image again: every chunk is already there.
    let again = import(&dir, &repo, "pc-again").unwrap();
    let s2 = again.stats.unwrap();
    assert_eq!(s2.image_bytes, stats.image_bytes);
    assert_eq!(s2.new_chunks, 0, "a second import stores nothing new");
    assert_eq!(s2.new_stored_bytes, 0);

    // And a Wraith save of the source disk itself shares the imported data.
    let source = wraith_engine::device::Device::open_read(&src.path).unwrap();
    let p = wraith_engine::plan::plan(&source, source.identity.clone()).unwrap();
    let r = Repository::open(&repo).unwrap();
    let saved = wraith_engine::pipeline::save::save(
        &source,
        &p,
        &r,
        &wraith_engine::pipeline::save::SaveOptions {
            name: "native".into(),
            machine: None,
            all_sectors: false,
            zstd_level: None,
        },
        &wraith_engine::events::Ctx::quiet(),
    )
    .unwrap();
    // Where partclone's bitmaps and Wraith's own used maps disagree on a block, the zeroed
    // bytes differ and so does the chunk holding them: with content-defined chunks (up to
    // 2 MiB, and this disk's files are mostly random bytes that do not compress) a few such
    // chunks are a quarter of the stored bytes. Two thirds or more must still be shared.
    assert!(
        saved.stats.new_stored_bytes < saved.stats.stored_bytes / 3,
        "most of a native save of the same disk dedups against the import: {:?}",
        saved.stats
    );

    // Restored straight from the directory.
    let direct = work.path().join("direct.img");
    restore_direct(&dir, &direct).unwrap();
    wraith_testkit::assert_same_filesystems(&src, &direct);
}

/// An MBR disk with primary partitions: FAT16 in zstd without checksums, ext4 in xz with a
/// checksum per block, NTFS in lz4 with one running checksum every 1000 blocks (-K), and a raw partition saved as a
/// bzip2'd dd image; the boot code and the hidden sectors after the MBR come back too.
#[test]
fn mbr_image_with_every_codec_restores_directly() {
    if !have_tools() {
        return;
    }
    for t in ["zstd", "xz", "lz4", "bzip2"] {
        if Command::new(t).arg("--version").output().is_err() {
            wraith_testkit::skip_missing_tool(t, "clonezilla codecs");
            return;
        }
    }
    let src = DiskBuilder::new(128 * MIB, Table::Dos)
        .seed(0x637a_0001)
        .part(32 * MIB, FsType::Fat16, "BOOT")
        .bootable()
        .part(40 * MIB, FsType::Ext4, "root")
        .part(24 * MIB, FsType::Ntfs, "DATA")
        .part(8 * MIB, FsType::Raw, "")
        .boot_code()
        .build()
        .unwrap();
    // Something in the gap after the MBR, as boot loaders leave there.
    sh(&format!(
        "printf 'hidden-loader-bytes' | dd of={} bs=1 seek=4096 conv=notrunc status=none",
        src.path.display()
    ));
    let work = tempfile::tempdir().unwrap();
    let dir = clonezilla_dir(&src, work.path(), "mbr-img", &|n| match n {
        1 => How {
            codec: ("zst", "zstd -q -c"),
            partclone: Some("-a0"),
        },
        2 => How {
            codec: ("xz", "xz -c"),
            partclone: Some("-a1 -k 1"),
        },
        3 => How {
            codec: ("lz4", "lz4 -q -c"),
            partclone: Some("-a1 -k 1000 -K"),
        },
        _ => How {
            codec: ("bz2", "bzip2 -c"),
            partclone: None,
        },
    });
    let target = work.path().join("restored.img");
    restore_direct(&dir, &target).unwrap();
    wraith_testkit::assert_same_filesystems(&src, &target);
    let a = std::fs::read(&src.path).unwrap();
    let b = std::fs::read(&target).unwrap();
    assert_eq!(
        a[..1 << 20],
        b[..1 << 20],
        "MBR, boot code and hidden sectors"
    );
    let raw = src.part(4);
    let (s, e) = (raw.start as usize, (raw.start + raw.len) as usize);
    assert!(a[s..e] == b[s..e], "the dd-imaged partition byte for byte");
}

#[test]
fn damaged_pieces_are_refused_before_anything_is_written() {
    if !have_tools() {
        return;
    }
    let src = wraith_testkit::gpt_disk();
    let work = tempfile::tempdir().unwrap();
    let good = clonezilla_dir(&src, work.path(), "good", &|_| How {
        codec: ("uncomp", "cat"),
        partclone: Some("-a1 -k 16"),
    });
    let repo = work.path().join("repo");
    import(&good, &repo, "base").unwrap();
    let before = snapshot(&repo);

    let copy = |name: &str| {
        let d = work.path().join(name);
        sh(&format!("cp -r {} {}", good.display(), d.display()));
        d
    };

    // One byte of block data flipped, well inside the ext4 stream's third piece.
    let bad = copy("flipped");
    let ps = pieces(&bad, "sda2.ext4-ptcl-img.uncomp.");
    assert!(ps.len() >= 3);
    let victim = &ps[2];
    let mut bytes = std::fs::read(victim).unwrap();
    bytes[1000] ^= 0x40;
    std::fs::write(victim, &bytes).unwrap();
    let err = import(&bad, &repo, "flipped").unwrap_err().to_string();
    let piece = victim.file_name().unwrap().to_str().unwrap();
    assert!(err.contains(piece), "names the piece: {err}");
    assert!(err.contains("checksum"), "says what is wrong: {err}");

    // The last piece cut short.
    let cut = copy("cut");
    let ps = pieces(&cut, "sda3.ntfs-ptcl-img.uncomp.");
    let last = ps.last().unwrap();
    let len = std::fs::metadata(last).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(last)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    let err = import(&cut, &repo, "cut").unwrap_err().to_string();
    let piece = last.file_name().unwrap().to_str().unwrap();
    assert!(err.contains(piece), "names the piece: {err}");
    assert!(err.contains("ends early"), "says it is truncated: {err}");

    // A piece missing from the middle.
    let gap = copy("gap");
    let ps = pieces(&gap, "sda2.ext4-ptcl-img.uncomp.");
    std::fs::remove_file(&ps[1]).unwrap();
    let err = import(&gap, &repo, "gap").unwrap_err().to_string();
    let piece = ps[1].file_name().unwrap().to_str().unwrap();
    assert!(err.contains(piece), "names the missing piece: {err}");

    // Nothing of any of them reached the repository.
    assert_eq!(snapshot(&repo), before, "the repository is untouched");
    let images: Vec<String> = Repository::open(&repo)
        .unwrap()
        .images()
        .unwrap()
        .into_iter()
        .map(|i| i.name)
        .collect();
    assert_eq!(images, vec!["base".to_string()]);

    // A direct restore of the damaged image leaves an existing target unwritten.
    let target = work.path().join("target.img");
    std::fs::write(&target, vec![0x5au8; src.size as usize]).unwrap();
    assert!(restore_direct(&bad, &target).is_err());
    let t = std::fs::read(&target).unwrap();
    assert!(t.iter().all(|&b| b == 0x5a), "the target is not written");
}

/// Clonezilla keeps LBA 0 and the first EBR only; the EBR chain of the logical partitions is
/// made again from the sfdisk dump, and every logical filesystem comes back where it was.
#[test]
fn logical_partitions_come_back_in_a_new_ebr_chain() {
    if !have_tools() {
        return;
    }
    let src = wraith_testkit::mbr_disk();
    let work = tempfile::tempdir().unwrap();
    // partclone 0.3.23 leaves used clusters of this FAT12 out of its bitmap (its own
    // partclone.restore gives a filesystem fsck rejects), so that one is a dd image here, as
    // Clonezilla's -q1 makes.
    let dir = clonezilla_dir(&src, work.path(), "logical", &|n| match n {
        6 => How {
            codec: ("gz", "gzip -c"),
            partclone: None,
        },
        _ => GZ_CRC,
    });
    let repo = work.path().join("repo");
    import(&dir, &repo, "mbr").unwrap();
    let target = work.path().join("restored.img");
    restore_from_repo(&repo, "mbr", &target);
    wraith_testkit::assert_same_filesystems(&src, &target);
    assert_eq!(
        wraith_testkit::partition_ranges(&target).unwrap(),
        wraith_testkit::partition_ranges(&src.path).unwrap()
    );
    // The boot code is the saved one.
    let a = std::fs::read(&src.path).unwrap();
    let b = std::fs::read(&target).unwrap();
    assert_eq!(a[..440], b[..440]);
}

/// partclone's CRC32 step, written out from its table definition (independent of the engine's).
fn crc_step(mut crc: u32, byte: u8) -> u32 {
    crc ^= u32::from(byte);
    for _ in 0..8 {
        crc = if crc & 1 != 0 {
            (crc >> 1) ^ 0xEDB8_8320
        } else {
            crc >> 1
        };
    }
    crc
}

/// Rewrites a partclone 0002 image without checksums as the 0001 format partclone 0.3 can no
/// longer write: 4160-byte descriptor, a byte per block, `BiTmAgIc`, every used block followed
/// by 0001's CRC (the block's first byte hashed block-size times, never reseeded).
fn to_v1(v2: &[u8]) -> Vec<u8> {
    let le32 = |o: usize| u32::from_le_bytes(v2[o..o + 4].try_into().unwrap());
    let le64 = |o: usize| u64::from_le_bytes(v2[o..o + 8].try_into().unwrap());
    assert_eq!(&v2[30..34], b"0002");
    assert_eq!(u16::from_le_bytes([v2[96], v2[97]]), 0, "made with -a0");
    let (device_size, total, used, bs) = (le64(52), le64(60), le64(76), le32(84));
    let mut out = Vec::new();
    out.extend_from_slice(b"partclone-image");
    let mut fs = [0u8; 15];
    fs[..5].copy_from_slice(b"EXTFS");
    out.extend_from_slice(&fs);
    out.extend_from_slice(b"0001");
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&bs.to_le_bytes());
    out.extend_from_slice(&device_size.to_le_bytes());
    out.extend_from_slice(&total.to_le_bytes());
    out.extend_from_slice(&used.to_le_bytes());
    out.resize(4160, 0);
    let bitmap = &v2[110..110 + total.div_ceil(8) as usize];
    for b in 0..total as usize {
        out.push((bitmap[b / 8] >> (b % 8)) & 1);
    }
    out.extend_from_slice(b"BiTmAgIc");
    let mut at = 110 + total.div_ceil(8) as usize + 4;
    let mut crc = 0xFFFF_FFFFu32;
    for _ in 0..used {
        let block = &v2[at..at + bs as usize];
        out.extend_from_slice(block);
        for _ in 0..bs {
            crc = crc_step(crc, block[0]);
        }
        out.extend_from_slice(&crc.to_le_bytes());
        at += bs as usize;
    }
    assert_eq!(at, v2.len(), "the whole 0002 stream was converted");
    out
}

#[test]
fn an_image_format_0001_partition_restores() {
    if !have_tools() {
        return;
    }
    let src = DiskBuilder::new(64 * MIB, Table::Gpt)
        .seed(0x637a_0002)
        .part(24 * MIB, FsType::Ext4, "old")
        .build()
        .unwrap();
    let work = tempfile::tempdir().unwrap();
    let dir = clonezilla_dir(&src, work.path(), "v1", &|_| How {
        codec: ("uncomp", "cat"),
        partclone: Some("-a0"),
    });
    let ps = pieces(&dir, "sda1.ext4-ptcl-img.uncomp.");
    let mut v2 = Vec::new();
    for p in &ps {
        v2.extend(std::fs::read(p).unwrap());
        std::fs::remove_file(p).unwrap();
    }
    let v1 = to_v1(&v2);
    std::fs::write(dir.join("sda1.ext4-ptcl-img.uncomp"), &v1).unwrap();
    let target = work.path().join("restored.img");
    restore_direct(&dir, &target).unwrap();
    wraith_testkit::assert_same_filesystems(&src, &target);

    // A wrong first byte of a 0001 block fails that block's CRC (0001's CRC sees nothing
    // else of a block: that is the format's defect, not ours to fix).
    let bs = u32::from_le_bytes(v1[36..40].try_into().unwrap()) as usize;
    let mut bad = v1;
    let n = bad.len();
    bad[n - 4 - bs] ^= 0xff;
    std::fs::write(dir.join("sda1.ext4-ptcl-img.uncomp"), &bad).unwrap();
    let err = restore_direct(&dir, &work.path().join("never.img"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("sda1.ext4-ptcl-img.uncomp"), "{err}");
    assert!(err.contains("checksum"), "{err}");
    assert!(!work.path().join("never.img").exists(), "no target created");
}
