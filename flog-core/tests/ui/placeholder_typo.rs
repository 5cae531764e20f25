fn main() {
    let waited_ms = 250;
    flog_core::weird!("pool exhausted after {waited_mss} ms", waited_ms);
}
