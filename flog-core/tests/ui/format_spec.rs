fn main() {
    let peer = "db1";
    flog_core::msg!(flog_core::Level::WEIRD, "peer {peer:?}", peer);
}
