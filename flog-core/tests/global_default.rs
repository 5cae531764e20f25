//! Installing after the default process-wide logger was used fails (its own
//! test binary: the global is the process's).

use flog_core::{msg, set_global, Logger, SetGlobalError};

#[test]
fn installing_after_the_default_was_used_is_refused() {
    assert!(msg!(OPERATIONAL, "logged before any install").is_some());
    assert_eq!(
        set_global(Logger::new()).unwrap_err(),
        SetGlobalError::DefaultInUse
    );
}
