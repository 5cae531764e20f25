use std::fs;
use std::os::unix::fs::PermissionsExt as _;

use flog_core::fs::write_private_atomically;

use super::*;

fn key_file(dir: &tempfile::TempDir) -> KeyFile {
    KeyFile::new(dir.path().join("logport-key.pem"), write_private_atomically)
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).expect("metadata").permissions().mode() & 0o777
}

fn entries(dir: &tempfile::TempDir) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir.path())
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Writes `contents` as a private file, as a damaged or foreign key file
/// would be on disk.
fn plant(path: &Path, contents: &[u8]) {
    write_private_atomically(path, contents).expect("write");
}

#[test]
fn first_use_creates_a_private_key_that_later_loads_identical() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = key_file(&dir);
    assert!(matches!(file.load(), Err(KeyFileError::Missing { .. })));

    let created = file.load_or_create().expect("created");
    assert_eq!(mode(file.path()), 0o600);
    let bytes = fs::read(file.path()).expect("read");
    assert_eq!(entries(&dir), vec!["logport-key.pem"]);

    let loaded = file.load_or_create().expect("loaded");
    assert_eq!(loaded.fingerprint(), created.fingerprint());
    assert_eq!(
        file.load().expect("loaded").fingerprint(),
        created.fingerprint()
    );
    assert_eq!(fs::read(file.path()).expect("read"), bytes, "not rewritten");
}

#[test]
fn a_damaged_or_foreign_file_is_an_error_and_stays_as_it_was() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = key_file(&dir);
    let good = TlsKey::generate().expect("key").to_pem();
    let cert_pem = format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        data_encoding::BASE64.encode(TlsKey::generate().expect("key").certificate_der())
    );
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("truncated", good.as_bytes()[..good.len() / 2].to_vec()),
        ("garbage", b"\x00\x01 not a key \xff".to_vec()),
        ("a certificate", cert_pem.into_bytes()),
        ("an id file", b"p-0123456789abcdef\n".to_vec()),
    ];
    for (what, contents) in cases {
        plant(file.path(), &contents);
        for result in [file.load_or_create(), file.load()] {
            let error = result.expect_err(what);
            assert!(
                matches!(error, KeyFileError::Invalid { .. }),
                "{what}: {error:?}"
            );
            assert!(error.to_string().contains("logport-key.pem"), "{error}");
        }
        assert!(matches!(file.rotate(), Err(KeyFileError::Invalid { .. })));
        assert_eq!(fs::read(file.path()).expect("read"), contents, "{what}");
        assert_eq!(entries(&dir), vec!["logport-key.pem"], "{what}: no .old");
    }
}

#[test]
fn an_oversized_file_is_refused_without_reading_it_whole() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = key_file(&dir);
    plant(file.path(), &vec![b'A'; 1 << 20]);
    let error = file.load_or_create().expect_err("too large");
    assert!(
        matches!(error, KeyFileError::TooLarge { len, .. } if len == 1 << 20),
        "{error:?}"
    );
}

#[test]
fn a_key_readable_by_others_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = key_file(&dir);
    let key = file.load_or_create().expect("created");
    fs::set_permissions(file.path(), fs::Permissions::from_mode(0o644)).expect("chmod");
    let error = file.load_or_create().expect_err("exposed");
    assert!(
        matches!(error, KeyFileError::Permissions { mode: 0o644, .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("chmod 600"), "{error}");
    assert_eq!(mode(file.path()), 0o644);
    fs::set_permissions(file.path(), fs::Permissions::from_mode(0o600)).expect("chmod");
    assert_eq!(file.load().expect("loads").fingerprint(), key.fingerprint());
}

#[test]
fn a_failing_writer_leaves_no_key_and_a_careless_one_is_caught() {
    fn failing(_: &Path, _: &[u8]) -> io::Result<()> {
        Err(io::Error::other("disk full"))
    }
    fn world_readable(path: &Path, contents: &[u8]) -> io::Result<()> {
        fs::write(path, contents)?;
        fs::set_permissions(path, fs::Permissions::from_mode(0o644))
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("k.pem");
    let error = KeyFile::new(&path, failing)
        .load_or_create()
        .expect_err("no disk");
    assert!(matches!(error, KeyFileError::Write { .. }), "{error:?}");
    assert!(entries(&dir).is_empty());

    let error = KeyFile::new(&path, world_readable)
        .load_or_create()
        .expect_err("not private");
    assert!(
        matches!(error, KeyFileError::Permissions { .. }),
        "{error:?}"
    );
}

#[test]
fn rotation_changes_the_fingerprint_and_keeps_the_old_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = key_file(&dir);
    assert!(matches!(file.rotate(), Err(KeyFileError::Missing { .. })));
    let first = file.load_or_create().expect("created");
    let first_pem = fs::read(file.path()).expect("read");

    let rotation = file.rotate().expect("rotated");
    assert_eq!(rotation.old, first.fingerprint());
    assert_ne!(rotation.new.fingerprint(), first.fingerprint());
    assert_eq!(
        file.load().expect("loads").fingerprint(),
        rotation.new.fingerprint()
    );
    assert_eq!(file.old_path(), dir.path().join("logport-key.pem.old"));
    assert_eq!(fs::read(file.old_path()).expect("old kept"), first_pem);
    assert_eq!(mode(file.path()), 0o600);
    assert_eq!(mode(&file.old_path()), 0o600);
    assert_eq!(
        entries(&dir),
        vec!["logport-key.pem", "logport-key.pem.old"]
    );

    // Rolling back is renaming the old file into place.
    let second = file.rotate().expect("rotated again");
    assert_eq!(second.old, rotation.new.fingerprint());
    fs::rename(file.old_path(), file.path()).expect("roll back");
    assert_eq!(
        file.load().expect("loads").fingerprint(),
        rotation.new.fingerprint()
    );
}
