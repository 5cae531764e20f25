//! Keeping a panic where it happened: in one blocking task, or in reading
//! one file, never the end of the daemon.

use std::any::Any;
use std::fmt;

/// A task that panicked, as an error: which task, and the panic's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Panicked {
    /// What the task was doing, e.g. `reclassify`.
    pub task: &'static str,
    /// The panic's message, when it had a text payload.
    pub message: String,
}

impl fmt::Display for Panicked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the {} task panicked: {}", self.task, self.message)
    }
}

impl std::error::Error for Panicked {}

impl Panicked {
    pub(crate) fn new(task: &'static str, payload: Box<dyn Any + Send>) -> Panicked {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(a panic without a text message)".to_owned());
        Panicked { task, message }
    }
}

/// Runs `work` on a blocking thread. A panic in it is an error naming
/// `task`, for the caller to report and survive; a cancelled runtime (only
/// at shutdown) is reported the same way.
pub(crate) async fn blocking<T: Send + 'static>(
    task: &'static str,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Panicked> {
    match tokio::task::spawn_blocking(work).await {
        Ok(value) => Ok(value),
        Err(error) if error.is_panic() => Err(Panicked::new(task, error.into_panic())),
        Err(_) => Err(Panicked {
            task,
            message: "cancelled at shutdown".to_owned(),
        }),
    }
}

/// Runs `work` here, turning a panic in it into an error naming `task`:
/// for the reading of one file, which must fail alone.
pub(crate) fn catch<T>(task: &'static str, work: impl FnOnce() -> T) -> Result<T, Panicked> {
    // The work reads a file into values it owns; nothing it could leave half
    // changed is looked at after a panic.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(work))
        .map_err(|payload| Panicked::new(task, payload))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_blocking_task_is_an_error_naming_it() {
        let result: Result<(), Panicked> = blocking("scan", || panic!("the disk is on fire")).await;
        assert_eq!(
            result,
            Err(Panicked {
                task: "scan",
                message: "the disk is on fire".into()
            })
        );
        assert_eq!(blocking("scan", || 7).await, Ok(7));
        let formatted = catch("read", || panic!("{} apples", 3)).unwrap_err();
        assert_eq!(formatted.to_string(), "the read task panicked: 3 apples");
    }
}
