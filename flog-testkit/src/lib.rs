//! What flog's test suites share, so that no suite keeps its own copy: the
//! incident files that fake publishers serve, small disks (tmpfs) for
//! the disk-full tests, and an S3 server ([`Moto`]) for the bucket tests. A dev-dependency only; nothing
//! shipped depends on it.
//!
//! ```
//! use flog_core::flogfile::FlogContents;
//!
//! let bytes = flog_testkit::incident_file("incident-x", 0);
//! let reader = flog_core::flogfile::FlogReader::new(std::io::Cursor::new(bytes))?;
//! let contents = FlogContents::read_from(reader);
//! assert_eq!(contents.header.unwrap().trigger, Some(flog_testkit::fake_trigger()));
//! assert_eq!(contents.events, [flog_testkit::fake_trigger()]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

mod disk;
mod moto;

pub use disk::SmallDisk;
pub use moto::{Moto, MOTO_ACCESS_KEY_ID, MOTO_SECRET_ACCESS_KEY};

use flog_core::flogfile::{FlogWriter, Header, HeaderKind};
use flog_core::{Event, Level};

/// The trigger of every [`incident_file`]: event 1, WEIRD, in facility `fake`.
pub fn fake_trigger() -> Event {
    Event {
        num: 1,
        level: Level::WEIRD,
        facility: Some("fake".into()),
        ..Event::default()
    }
}

/// A real flogfile (uncompressed) of incident `name` whose trigger is
/// [`fake_trigger`]; with `padding` > 0, an OPERATIONAL event numbered 0
/// before it carries that many bytes in its field `pad`.
pub fn incident_file(name: &str, padding: usize) -> Vec<u8> {
    let trigger = fake_trigger();
    let header = Header {
        kind: Some(HeaderKind::Incident),
        name: Some(name.into()),
        trigger: Some(trigger.clone()),
        ..Header::default()
    };
    // Writing to a Vec cannot fail.
    let mut writer = FlogWriter::new(Vec::new(), &header).expect("writes to a Vec");
    if padding > 0 {
        let mut noise = Event {
            num: 0,
            level: Level::OPERATIONAL,
            ..Event::default()
        };
        noise
            .fields
            .push(("pad".into(), vec![0x5a_u8; padding].into()));
        writer.write_event(&noise).expect("writes to a Vec");
    }
    writer.write_event(&trigger).expect("writes to a Vec");
    writer.into_inner().expect("writes to a Vec")
}
