//! flogtool/README.md documents every flag of every command, so the README
//! and the command line cannot drift apart silently.

use crate::util::run;

/// The long flags (and aliases) `flogtool help COMMAND` lists.
fn flags_of(command: &str) -> Vec<String> {
    let help = run(&["help", command]);
    assert_eq!(help.code, 0, "{help:?}");
    let mut flags: Vec<String> = help
        .stdout
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|word| word.starts_with("--") && word.len() > 2)
        .map(|word| {
            word.chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect::<String>()
        })
        .filter(|flag| flag != "--help" && flag != "--version")
        .collect();
    flags.sort();
    flags.dedup();
    flags
}

#[test]
fn the_readme_names_every_flag() {
    let readme = include_str!("../../README.md");
    let commands = [
        "dump",
        "filter",
        "list",
        "fetch",
        "tail",
        "classify-incident",
        "convert",
        "demo",
        "completions",
        "man",
    ];
    let mut missing = Vec::new();
    for command in commands {
        assert!(
            readme.contains(&format!("`{command}")),
            "{command} in the README"
        );
        let flags = flags_of(command);
        assert!(
            !flags.is_empty() || matches!(command, "completions" | "man"),
            "{command}"
        );
        for flag in flags {
            if !readme.contains(&format!("`{flag}")) {
                missing.push(format!("{command} {flag}"));
            }
        }
    }
    assert!(missing.is_empty(), "not in flogtool/README.md: {missing:?}");
    assert!(readme.contains("FLOGTOOL_TIMESTAMPS"));
}
