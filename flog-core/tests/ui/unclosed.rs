fn main() {
    flog_core::operational!("open {brace", brace = 1);
}
