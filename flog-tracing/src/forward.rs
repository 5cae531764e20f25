//! Forwarding flog events to `tracing`: the other direction from
//! [`FlogLayer`](crate::FlogLayer).

use flog_core::{Event, Level};

/// An event observer that re-emits each flog event at or above `min` as a
/// `tracing` event with target `flog`, so that events logged with
/// `flog_core::msg!` reach the service's console layer too. Add it with
/// `Logger::add_event_observer` or `LoggerBuilder::event_observer`.
///
/// Levels map back as [`LevelMap::DEFAULT`](crate::LevelMap::DEFAULT) maps
/// them forward: BAD and above `ERROR`, WEIRD and SCARY `WARN`, OPERATIONAL
/// to CURIOUS `INFO`, NOISY `DEBUG`, below `TRACE`. A [`FlogLayer`](crate::FlogLayer)
/// in the same subscriber does not record the forwarded events again
/// (the loop guard, [`flog_core::inside_observer`]).
pub fn forward_to_tracing(min: Level) -> impl Fn(&Event) + Send + Sync + 'static {
    move |event: &Event| {
        if event.level < min {
            return;
        }
        let (facility, text, num) = (event.facility(), event.render(), event.num);
        let level = event.level;
        // `tracing` levels are part of each call site's static metadata, so
        // one call per level.
        if level >= Level::BAD {
            tracing::error!(target: "flog", facility, num, "{text}");
        } else if level >= Level::WEIRD {
            tracing::warn!(target: "flog", facility, num, "{text}");
        } else if level >= Level::OPERATIONAL {
            tracing::info!(target: "flog", facility, num, "{text}");
        } else if level >= Level::NOISY {
            tracing::debug!(target: "flog", facility, num, "{text}");
        } else {
            tracing::trace!(target: "flog", facility, num, "{text}");
        }
    }
}
