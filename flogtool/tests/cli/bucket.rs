//! `dump` and `list` of a bucket that gatherers share, against a real S3
//! server (moto; `.ci/run` installs it): real incidents put under a prefix
//! read as the local files do, and a bad location, a missing object or
//! bucket, wrong credentials and a damaged object each fail clearly.

use std::path::{Path, PathBuf};
use std::process::Command;

use flog_testkit::{Moto, MOTO_ACCESS_KEY_ID, MOTO_SECRET_ACCESS_KEY};

use crate::bomb::{seed, ADDRESS_SPACE};
use crate::util::{flogtool, path_str, real_incident, run, Run};

/// flogtool with the server's endpoint and the key `key_id` in its
/// environment, as an operator sets them.
fn run_s3(moto: &Moto, key_id: &str, args: &[&str]) -> Run {
    run_s3_as(flogtool(), moto, key_id, args)
}

/// [`run_s3`] of `command` (flogtool, or prlimit running it).
fn run_s3_as(mut command: Command, moto: &Moto, key_id: &str, args: &[&str]) -> Run {
    command
        .args(args)
        .env("AWS_ENDPOINT_URL", moto.endpoint())
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", key_id)
        .env("AWS_SECRET_ACCESS_KEY", MOTO_SECRET_ACCESS_KEY)
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE");
    let out = command.output().expect("flogtool runs");
    Run {
        code: out.status.code().expect("exited, not killed"),
        stdout: String::from_utf8(out.stdout).expect("utf-8 stdout"),
        stderr: String::from_utf8(out.stderr).expect("utf-8 stderr"),
    }
}

/// Three real incidents of two publishers, in the bucket as gatherers
/// store them under prefix `fleet` (with the markers and lists beside
/// them): (key, local file), by key.
fn fill(moto: &Moto, dir: &Path) -> Vec<(String, PathBuf)> {
    let mut stored = Vec::new();
    for (i, publisher) in ["web-1", "web-1", "web-2"].into_iter().enumerate() {
        let file = real_incident(&dir.join(format!("logs-{i}")));
        let name = file.file_name().unwrap().to_str().unwrap().to_owned();
        let key = format!("fleet/incidents/{publisher}/{name}");
        moto.put(&key, std::fs::read(&file).unwrap());
        stored.push((key, file));
    }
    moto.put("fleet/incidents/web-1/latest", b"x\n".to_vec());
    moto.put("fleet/classified/all", b"x\n".to_vec());
    stored.sort();
    stored
}

#[test]
fn dump_and_list_read_a_bucket_as_they_read_files() {
    let Some(moto) = Moto::start("flog-dump") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let stored = fill(&moto, dir.path());
    let url = |key: &str| format!("s3://flog-dump/{key}");

    // One object prints exactly as its local copy does.
    for (key, file) in &stored {
        let local = run(&["dump", path_str(file)]);
        assert_eq!(local.code, 0, "{local:?}");
        let remote = run_s3(&moto, MOTO_ACCESS_KEY_ID, &["dump", &url(key)]);
        assert_eq!(remote.code, 0, "{remote:?}");
        assert_eq!(remote.stdout, local.stdout);
        assert!(remote.stderr.is_empty(), "{}", remote.stderr);
    }

    // A prefix is a directory: every incident under it, by key, each
    // under its URL as several files are; the markers and lists are not
    // flogfiles and are left out.
    let all = run_s3(
        &moto,
        MOTO_ACCESS_KEY_ID,
        &["dump", "s3://flog-dump/fleet/"],
    );
    assert_eq!(all.code, 0, "{all:?}");
    let mut expected = String::new();
    for (i, (key, file)) in stored.iter().enumerate() {
        let gap = if i > 0 { "\n" } else { "" };
        expected.push_str(&format!("{gap}==> {} <==\n", url(key)));
        expected.push_str(&run(&["dump", path_str(file)]).stdout);
    }
    assert_eq!(all.stdout, expected);

    // JSON names the object as it names a file.
    let (key, _) = &stored[0];
    let json = run_s3(&moto, MOTO_ACCESS_KEY_ID, &["dump", "--json", &url(key)]);
    assert_eq!(json.code, 0, "{json:?}");
    let header: serde_json::Value =
        serde_json::from_str(json.stdout.lines().next().unwrap()).unwrap();
    assert_eq!(header["file"].as_str(), Some(url(key).as_str()));

    // filter copies an object's events into a local file as it copies a
    // file's; it does not write the bucket.
    let (key, file) = &stored[0];
    let (from_file, from_bucket) = (dir.path().join("a.flog"), dir.path().join("b.flog"));
    let args = ["--min-level", "UNUSUAL"];
    let local = run(&[&["filter", path_str(file), path_str(&from_file)][..], &args].concat());
    assert_eq!(local.code, 0, "{local:?}");
    let remote = run_s3(
        &moto,
        MOTO_ACCESS_KEY_ID,
        &[&["filter", &url(key), path_str(&from_bucket)][..], &args].concat(),
    );
    assert_eq!(remote.code, 0, "{remote:?}");
    assert_eq!(
        std::fs::read(&from_bucket).unwrap(),
        std::fs::read(&from_file).unwrap()
    );
    let in_place = run_s3(&moto, MOTO_ACCESS_KEY_ID, &["filter", &url(key)]);
    assert_eq!(in_place.code, 1, "{in_place:?}");
    assert!(
        in_place
            .stderr
            .contains("is in a bucket, which flogtool does not write: give NEW"),
        "{}",
        in_place.stderr
    );

    // Listing a prefix finds every incident, from the listing alone.
    let listed = run_s3(&moto, MOTO_ACCESS_KEY_ID, &["list", "s3://flog-dump/fleet"]);
    assert_eq!(listed.code, 0, "{listed:?}");
    let lines: Vec<&str> = listed.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", listed.stdout);
    for (line, (key, file)) in lines.iter().zip(&stored) {
        let size = std::fs::metadata(file).unwrap().len().to_string();
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(fields[0], url(key), "{line}");
        assert!(
            fields[1].starts_with("20") && fields[1].ends_with('Z'),
            "{line}"
        );
        assert_eq!(fields[2], size, "{line}");
    }
    let web2 = run_s3(
        &moto,
        MOTO_ACCESS_KEY_ID,
        &["list", "--json", "s3://flog-dump/fleet/incidents/web-2"],
    );
    assert_eq!(web2.code, 0, "{web2:?}");
    let only: serde_json::Value = serde_json::from_str(web2.stdout.trim()).unwrap();
    assert_eq!(only["key"].as_str(), Some(stored[2].0.as_str()));
    let since = run_s3(
        &moto,
        MOTO_ACCESS_KEY_ID,
        &[
            "list",
            "--since",
            only["name"].as_str().unwrap(),
            "s3://flog-dump/fleet",
        ],
    );
    assert_eq!(since.code, 0, "{since:?}");
    assert!(
        !since.stdout.contains(stored[2].0.as_str()),
        "{}",
        since.stdout
    );
}

#[test]
fn a_bad_location_a_missing_object_wrong_credentials_or_a_damaged_object_fail_clearly() {
    let Some(moto) = Moto::start("flog-refuse") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = real_incident(&dir.path().join("logs"));
    let key = "fleet/incidents/web-1/incident-2026-01-01T00-00-00.000000Z-0001.flog.bz2";
    let bytes = std::fs::read(&file).unwrap();
    moto.put(key, bytes.clone());
    // Damaged the same way every run: the first block's stored CRC (after
    // "BZh", the level digit and the 6-byte block magic) is wrong, so the decoder reads the
    // whole block and reports a data error. Garbling random bytes instead
    // sometimes left the decoder wanting more input, which reads as a
    // truncated file (a warning, exit 0) and made this test flaky.
    let broken = "fleet/incidents/web-1/incident-2026-01-01T00-00-01.000000Z-0002.flog.bz2";
    let mut garbled = bytes.clone();
    assert_eq!(&garbled[..3], b"BZh");
    assert_eq!(&garbled[4..10], &[0x31, 0x41, 0x59, 0x26, 0x53, 0x59]);
    garbled[10..14].iter_mut().for_each(|b| *b ^= 0xff);
    moto.put(broken, garbled);
    let good = format!("s3://flog-refuse/{key}");

    let cases: Vec<(String, Vec<&str>, &str)> = vec![
        (
            MOTO_ACCESS_KEY_ID.into(),
            vec!["dump", "s3://flog-refuse/fleet/../etc"],
            "the path after the bucket must be parts of printable ASCII",
        ),
        (
            MOTO_ACCESS_KEY_ID.into(),
            vec!["dump", "s3://Not_A_Bucket/fleet"],
            "is not a bucket name",
        ),
        (
            MOTO_ACCESS_KEY_ID.into(),
            vec![
                "dump",
                "s3://flog-refuse/fleet/incidents/web-1/incident-x.flog.bz2",
            ],
            "s3://flog-refuse has no object fleet/incidents/web-1/incident-x.flog.bz2",
        ),
        (
            MOTO_ACCESS_KEY_ID.into(),
            vec!["dump", "s3://flog-refuse/nothing-here"],
            "no flogfiles (.flog.bz2, .flog) under s3://flog-refuse/nothing-here",
        ),
        (
            MOTO_ACCESS_KEY_ID.into(),
            vec!["dump", "s3://no-such-bucket/fleet"],
            "cannot list fleet in s3://no-such-bucket: Generic S3 error",
        ),
        (
            "WRONGKEY".into(),
            vec!["dump", &good],
            "s3://flog-refuse refused the credentials (403 Forbidden)",
        ),
        (
            "WRONGKEY".into(),
            vec!["list", "s3://flog-refuse/fleet"],
            "s3://flog-refuse refused the credentials (403 Forbidden)",
        ),
    ];
    for (key_id, args, expected) in cases {
        let out = run_s3(&moto, &key_id, &args);
        assert_eq!(out.code, 1, "{args:?}: {out:?}");
        assert!(out.stdout.is_empty(), "{args:?}: {out:?}");
        assert!(
            out.stderr.starts_with("flogtool: error: "),
            "{args:?}: {out:?}"
        );
        assert!(out.stderr.contains(expected), "{args:?}: {}", out.stderr);
        // One error; the server's own answer (a missing bucket's XML) may
        // follow on the lines after.
        assert!(
            out.stderr.lines().count() == 1 || args[1].contains("no-such-bucket"),
            "{args:?}: {}",
            out.stderr
        );
        assert!(
            !out.stderr.contains(MOTO_SECRET_ACCESS_KEY),
            "{}",
            out.stderr
        );
    }

    // The damaged object fails as a damaged file does, naming its URL, and
    // the good one beside it is still printed.
    let both = run_s3(
        &moto,
        MOTO_ACCESS_KEY_ID,
        &["dump", "s3://flog-refuse/fleet"],
    );
    assert_eq!(both.code, 1, "{both:?}");
    assert!(both.stdout.contains(&format!("==> {good} <==")), "{both:?}");
    assert!(
        both.stderr
            .contains(&format!("flogtool: error: s3://flog-refuse/{broken}")),
        "{}",
        both.stderr
    );
    assert!(
        both.stderr
            .contains("1 of 2 files could not be read completely"),
        "{}",
        both.stderr
    );
}

#[test]
fn a_decompression_bomb_in_the_bucket_fails_clearly_in_bounded_memory() {
    let Some(moto) = Moto::start("flog-bomb") else {
        return;
    };
    for name in ["bomb-256mib.flog.bz2", "bomb-1gib.flog.bz2"] {
        let key = format!("fleet/incidents/web-1/{name}");
        moto.put(&key, std::fs::read(seed(name)).unwrap());
        let mut limited = Command::new("prlimit");
        limited
            .arg(format!("--as={ADDRESS_SPACE}"))
            .arg("--")
            .arg(env!("CARGO_BIN_EXE_flogtool"))
            .env("RUST_BACKTRACE", "0");
        let url = format!("s3://flog-bomb/{key}");
        let out = run_s3_as(limited, &moto, MOTO_ACCESS_KEY_ID, &["dump", &url]);
        assert_eq!(out.code, 1, "{name}: {out:?}");
        assert!(
            out.stderr.contains(&url)
                && out
                    .stderr
                    .contains("larger than the limit of 16777216 bytes"),
            "{name}: {}",
            out.stderr
        );
    }
}
