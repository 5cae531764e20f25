//! `flogtool convert` and reading foolscap files with `dump`.

use std::fs;
use std::process::Command;

use crate::util::{event_lines, path_str, real_incident, run};

#[test]
fn an_incident_converted_to_foolscap_and_back_dumps_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let incident = real_incident(&dir.path().join("logs"));
    let original = run(&["dump", path_str(&incident)]);
    assert_eq!(original.code, 0, "{}", original.stderr);

    for name in ["incident.foolscap.flog", "incident.foolscap.flog.bz2"] {
        let foolscap = dir.path().join(name);
        let out = run(&[
            "convert",
            "--to",
            "foolscap",
            path_str(&incident),
            path_str(&foolscap),
        ]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        let mut start = fs::read(&foolscap).unwrap();
        if name.ends_with(".bz2") {
            let mut plain = Vec::new();
            std::io::Read::read_to_end(
                &mut bzip2::read::BzDecoder::new(start.as_slice()),
                &mut plain,
            )
            .unwrap();
            start = plain;
        }
        assert!(start.starts_with(b"# foolscap flogfile v1\n"));

        // dump reads the foolscap file: the same events, the trigger marked.
        let dumped = run(&["dump", path_str(&foolscap)]);
        assert_eq!(dumped.code, 0, "{}", dumped.stderr);
        assert_eq!(event_lines(&dumped.stdout), event_lines(&original.stdout));

        // And back to a flogfile.
        let back = dir.path().join(format!("{name}.back.flog"));
        let out = run(&[
            "convert",
            "--to",
            "flog",
            path_str(&foolscap),
            path_str(&back),
        ]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        let again = run(&["dump", path_str(&back)]);
        assert_eq!(event_lines(&again.stdout), event_lines(&original.stdout));
    }

    // foolscap's own flogtool reads what we wrote, when it is installed.
    let foolscap_ok = Command::new("python3")
        .args(["-c", "import foolscap.logging.cli"])
        .status()
        .is_ok_and(|s| s.success());
    if foolscap_ok {
        let out = Command::new("python3")
            .args(["-c", "import sys; from foolscap.logging.cli import run_flogtool; sys.argv=['flogtool','dump',sys.argv[1]]; run_flogtool()"])
            .arg(dir.path().join("incident.foolscap.flog.bz2"))
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains("service starting"), "{stdout}");
    } else {
        eprintln!("foolscap is not installed: skipped the check with foolscap's own flogtool");
    }
}

#[test]
fn convert_refuses_what_is_not_a_log() {
    let dir = tempfile::tempdir().unwrap();
    let furl = dir.path().join("logport.furl");
    fs::write(&furl, "pb://abc@127.0.0.1:1/x").unwrap();
    let out = run(&[
        "convert",
        "--to",
        "foolscap",
        path_str(&furl),
        path_str(&dir.path().join("o")),
    ]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("FURL"), "{}", out.stderr);
    assert!(!dir.path().join("o").exists());
    let out = run(&["convert", "--to", "yaml", path_str(&furl), "o"]);
    assert_eq!(out.code, 2);
}
