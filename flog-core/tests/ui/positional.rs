fn main() {
    let ms = 250;
    flog_core::msg!(WEIRD, facility = "app", "took {} ms", ms);
}
