//! A loop device over an image file for root-only tests (mounted-target and same-disk
//! interlocks): attached with losetup, unmounted and detached when dropped.

use std::path::Path;
use std::process::Command;

/// The loop device's path (`/dev/loopN`).
pub struct Loop(pub String);

impl Loop {
    /// None when loop devices cannot be used here (not root, no loop driver).
    pub fn attach(file: &Path) -> Option<Loop> {
        let o = Command::new("losetup")
            .args(["-f", "--show"])
            .arg(file)
            .output()
            .ok()?;
        o.status
            .success()
            .then(|| Loop(String::from_utf8_lossy(&o.stdout).trim().to_string()))
    }
}

impl Loop {
    /// A loop device over `len` bytes at `offset` of `file`: one partition of a disk image
    /// as a block device of its own (partition scanning of loop devices is not available in
    /// every container).
    pub fn attach_range(file: &Path, offset: u64, len: u64) -> Option<Loop> {
        let o = Command::new("losetup")
            .args([
                "-f",
                "--show",
                "-o",
                &offset.to_string(),
                "--sizelimit",
                &len.to_string(),
            ])
            .arg(file)
            .output()
            .ok()?;
        o.status
            .success()
            .then(|| Loop(String::from_utf8_lossy(&o.stdout).trim().to_string()))
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg(&self.0)
            .stderr(std::process::Stdio::null())
            .status();
        let _ = Command::new("losetup").arg("-d").arg(&self.0).status();
    }
}
