//! Progress bars: drawn on a terminal (a real pseudo-terminal here), never on
//! a pipe. (`fetch`'s is in `remote`, beside its publisher.)

use crate::util::{path_str, real_incident, run, run_on_terminal};

#[test]
fn filter_and_convert_draw_bars_on_a_terminal_only() {
    let dir = tempfile::tempdir().unwrap();
    let file = real_incident(dir.path());
    let out_file = dir.path().join("out.flog");
    let filter = ["filter", path_str(&file), path_str(&out_file)];
    let foolscap = dir.path().join("out.foolscap.flog.bz2");
    let convert = [
        "convert",
        "--to",
        "foolscap",
        path_str(&file),
        path_str(&foolscap),
    ];

    let tty = run_on_terminal(None, &filter);
    assert_eq!(tty.code, 0, "{tty:?}");
    assert!(
        tty.terminal.contains(&format!("filter {}", file.display())),
        "{:?}",
        tty.terminal
    );
    assert!(
        tty.terminal.contains("KiB") || tty.terminal.contains(" B/"),
        "{:?}",
        tty.terminal
    );
    assert!(
        tty.stdout.contains("kept 8 of 8 events"),
        "stdout is untouched: {}",
        tty.stdout
    );

    let tty = run_on_terminal(None, &convert);
    assert_eq!(tty.code, 0, "{tty:?}");
    assert!(tty.terminal.contains("read "), "{:?}", tty.terminal);
    assert!(
        tty.terminal
            .contains(&format!("write {}", foolscap.display())),
        "{:?}",
        tty.terminal
    );

    for args in [&filter[..], &convert[..]] {
        let piped = run(args);
        assert_eq!(piped.code, 0, "{piped:?}");
        assert_eq!(piped.stderr, "", "{args:?}: nothing on a pipe");
    }
}
