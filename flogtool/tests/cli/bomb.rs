//! Decompression bombs: a few hundred bytes of bzip2 whose header holds an
//! unknown key declaring a byte string of 256 MiB or 1 GiB (the seeds in
//! `fuzz/seeds/flogfile`, written by flog-core's `tests/bomb.rs`). `flogtool
//! dump` refuses them with a clear error, in bounded memory.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{path_str, real_incident};

/// Address space for the child: room for the (debug) binary and an ordinary
/// dump, far less than either bomb declares.
pub(crate) const ADDRESS_SPACE: u64 = 320 * 1024 * 1024;

pub(crate) fn seed(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/seeds/flogfile")
        .join(name)
}

/// `flogtool dump FILE` under the address-space limit: (exit code, stderr);
/// `None` as the code when a signal ended it (an allocation failure aborts).
fn dump_limited(file: &Path) -> (Option<i32>, String) {
    let out = Command::new("prlimit")
        .arg(format!("--as={ADDRESS_SPACE}"))
        .arg("--")
        .arg(env!("CARGO_BIN_EXE_flogtool"))
        .args(["dump", path_str(file)])
        .env_remove("RUST_LOG")
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("prlimit (util-linux) runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn dump_of_a_decompression_bomb_fails_clearly_in_bounded_memory() {
    // The limit is no obstacle to an honest report.
    let dir = tempfile::tempdir().unwrap();
    let (code, stderr) = dump_limited(&real_incident(dir.path()));
    assert_eq!(code, Some(0), "{stderr}");

    for name in ["bomb-256mib.flog.bz2", "bomb-1gib.flog.bz2"] {
        let file = seed(name);
        assert!(std::fs::metadata(&file).unwrap().len() < 1024);
        let (code, stderr) = dump_limited(&file);
        assert!(!stderr.contains("memory allocation"), "{name}: {stderr}");
        assert_eq!(
            code,
            Some(1),
            "{name}: exits with an error, not a signal: {stderr}"
        );
        assert!(
            stderr.contains(name)
                && stderr.contains("record 1")
                && stderr.contains("larger than the limit of 16777216 bytes"),
            "{name}: {stderr}"
        );
    }
}
