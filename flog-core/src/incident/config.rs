//! Incident settings (see [`LoggerBuilder`](crate::LoggerBuilder)).

use std::time::Duration;

#[derive(Debug, Clone)]
pub(crate) struct IncidentConfig {
    pub(crate) trailing: bool,
    pub(crate) trailing_delay: Duration,
    pub(crate) trailing_event_limit: usize,
    pub(crate) max_per_window: usize,
    pub(crate) rate_window: Duration,
    pub(crate) max_files: usize,
    pub(crate) max_bytes: u64,
}

impl Default for IncidentConfig {
    fn default() -> Self {
        IncidentConfig {
            trailing: true,
            trailing_delay: Duration::from_secs(5),
            trailing_event_limit: 100,
            max_per_window: 10,
            rate_window: Duration::from_secs(60),
            max_files: 1000,
            max_bytes: 512 * 1024 * 1024,
        }
    }
}
