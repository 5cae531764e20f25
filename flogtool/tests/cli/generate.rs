//! `flogtool completions SHELL` and `flogtool man [COMMAND]`.

use std::process::Command;

use crate::util::run;

#[test]
fn completion_scripts_know_every_command_and_flag() {
    let bash = run(&["completions", "bash"]);
    assert_eq!(bash.code, 0, "{bash:?}");
    for word in [
        "_flogtool",
        "dump",
        "classify-incident",
        "--timestamps",
        "--just-numbers",
        "--strip-facility",
        "short-local",
    ] {
        assert!(bash.stdout.contains(word), "{word} in the bash script");
    }
    // bash itself parses it.
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("flogtool.bash");
    std::fs::write(&script, &bash.stdout).unwrap();
    let checked = Command::new("bash")
        .arg("-n")
        .arg(&script)
        .output()
        .unwrap();
    assert!(
        checked.status.success(),
        "{}",
        String::from_utf8_lossy(&checked.stderr)
    );

    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let out = run(&["completions", shell]);
        assert_eq!(out.code, 0, "{shell}: {out:?}");
        assert!(out.stdout.contains("timestamps"), "{shell}");
        assert!(out.stdout.contains("rx-time"), "{shell}");
    }
    assert_eq!(run(&["completions", "tcsh-of-the-future"]).code, 2);
}

#[test]
fn man_pages_for_flogtool_and_each_command() {
    let page = run(&["man"]);
    assert_eq!(page.code, 0, "{page:?}");
    assert!(
        page.stdout.starts_with(".ie \\n(.g .ds Aq"),
        "roff: {}",
        &page.stdout[..80]
    );
    assert!(page.stdout.contains(".TH flogtool 1"), "{}", page.stdout);
    assert!(
        page.stdout.contains("flogtool\\-dump(1)"),
        "names the command pages"
    );

    let dump = run(&["man", "dump"]);
    assert_eq!(dump.code, 0, "{dump:?}");
    assert!(
        dump.stdout.contains(".TH flogtool-dump 1"),
        "{}",
        dump.stdout
    );
    for flag in [
        "\\-\\-timestamps",
        "\\-\\-just\\-numbers",
        "\\-\\-rx\\-time",
        "FLOGTOOL_TIMESTAMPS",
    ] {
        assert!(dump.stdout.contains(flag), "{flag} in {}", dump.stdout);
    }
    assert!(
        dump.stdout.contains("flogtool dump"),
        "the synopsis names the command"
    );

    let unknown = run(&["man", "no-such-command"]);
    assert_eq!(unknown.code, 1, "{unknown:?}");
    assert!(unknown.stderr.contains("no command"), "{}", unknown.stderr);
}
