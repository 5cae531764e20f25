//! Forwarders: event observers that copy events to a console, as foolscap's
//! `bridgeLogsToTwisted` does, since events logged with
//! [`msg!`](crate::msg) otherwise reach only the flight recorder.

use std::io::Write;
use std::sync::{Mutex, PoisonError};

use crate::event::Event;
use crate::level::Level;

/// An event observer that writes each event at or above `min` to stderr,
/// one line each (`TIME LEVEL facility: text`).
///
/// ```
/// use flog_core::{forward_to_stderr, Level, Logger};
///
/// let logger = Logger::builder()
///     .event_observer(forward_to_stderr(Level::UNUSUAL))
///     .build()?;
/// # Ok::<(), flog_core::ConfigError>(())
/// ```
///
/// Forwarders to `tracing` and `log` are in `flog-tracing` and `flog-log`;
/// events those bridges would feed back into flog are dropped there (see
/// [`inside_observer`](crate::inside_observer)).
pub fn forward_to_stderr(min: Level) -> impl Fn(&Event) + Send + Sync + 'static {
    forward_to_writer(min, std::io::stderr())
}

/// [`forward_to_stderr`] to any writer. A failed write is dropped: a
/// console that is gone must not stop logging.
pub fn forward_to_writer(
    min: Level,
    writer: impl Write + Send + 'static,
) -> impl Fn(&Event) + Send + Sync + 'static {
    let writer = Mutex::new(writer);
    move |event: &Event| {
        if event.level >= min {
            let mut w = writer.lock().unwrap_or_else(PoisonError::into_inner);
            let _ = writeln!(w, "{event}");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::Logger;

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);
    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().write(buf)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn events_at_or_above_the_level_are_written_one_per_line() {
        let out = Shared::default();
        let logger = Logger::builder()
            .event_observer(forward_to_writer(Level::UNUSUAL, out.clone()))
            .build()
            .unwrap();
        crate::operational!(logger = logger, "not forwarded");
        crate::unusual!(
            logger = logger,
            facility = "app.db",
            "slow {ms} ms",
            ms = 12
        );
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(text.ends_with(" UNUSUAL app.db: slow 12 ms\n"), "{text}");
    }
}
