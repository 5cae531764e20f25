//! Small disks for the disk-full and read-only tests: a tmpfs of a given
//! size, unmounted on drop.

use std::path::PathBuf;
use std::process::Command;

/// A tmpfs mounted on a fresh temporary directory, unmounted on drop.
///
/// Mounting needs root (or CAP_SYS_ADMIN). Without it, [`SmallDisk::mount`]
/// gives `None` and the test says so and passes, except under CI (`CI` set),
/// where `.ci/run` runs as root and a test that cannot mount one fails:
/// a disk-full test that skips quietly there would prove nothing.
#[derive(Debug)]
pub struct SmallDisk {
    /// Where the tmpfs is mounted.
    pub path: PathBuf,
    _parent: tempfile::TempDir,
}

impl SmallDisk {
    /// Mounts a tmpfs of `size` (`64k`, `16m`, ...).
    pub fn mount(size: &str) -> Option<SmallDisk> {
        Self::mount_with(&format!("size={size}"))
    }

    /// Mounts with these `-o` options, e.g. `size=1m,ro`.
    pub fn mount_with(options: &str) -> Option<SmallDisk> {
        let parent = tempfile::tempdir().expect("a temporary directory");
        let path = parent.path().join("disk");
        std::fs::create_dir(&path).expect("a mount point");
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(&path)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            assert!(
                std::env::var_os("CI").is_none(),
                "cannot mount a tmpfs (-o {options}), and CI is set: this test needs one"
            );
            eprintln!("cannot mount a tmpfs here (not root?); the part of this test that needs one is skipped");
            return None;
        }
        Some(SmallDisk {
            path,
            _parent: parent,
        })
    }

    /// Changes the size, keeping what is stored.
    pub fn resize(&self, size: &str) {
        self.remount(&format!("size={size}"));
    }

    /// Remounts with other options: `ro`, `rw`, `size=...`.
    pub fn remount(&self, options: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,{options}")])
            .arg(&self.path)
            .status()
            .expect("mount runs");
        assert!(status.success(), "mount -o remount,{options}");
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.path).status();
    }
}
