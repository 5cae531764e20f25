//! Mistakes in a `msg!` format string are compile errors, with messages that
//! say what is wrong (snapshots in `tests/ui/*.stderr`).

#[test]
fn format_string_mistakes_do_not_compile() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
