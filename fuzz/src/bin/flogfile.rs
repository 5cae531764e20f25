//! Fuzzes the flogfile reader: any bytes (plain or bzip2) read as records or end
//! in an error, never a panic.
use flog_core::flogfile::{FlogContents, FlogReader};

fn main() {
    afl::fuzz!(|data: &[u8]| {
        if let Ok(reader) = FlogReader::new(std::io::Cursor::new(data.to_vec())) {
            let contents = FlogContents::read_from(reader);
            for event in &contents.events {
                let _ = event.render();
            }
        }
    });
}
