use std::backtrace::Backtrace;
use std::panic::PanicHookInfo;

use crate::level::Level;
use crate::logger::Logger;
use crate::observer::panic_message;

/// Installs a panic hook that logs a BAD event (message, location, thread and a
/// backtrace) to `logger` before running the previous hook.
///
/// With a logdir set, that event declares an incident whose uncompressed report
/// is written before the hook returns, so a service built with
/// `panic = "abort"` still leaves it behind.
pub fn install_panic_hook(logger: Logger) {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info: &PanicHookInfo<'_>| {
        let message = panic_message(info.payload());
        let location = info
            .location()
            .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()))
            .unwrap_or_default();
        let thread = std::thread::current()
            .name()
            .unwrap_or("<unnamed>")
            .to_owned();
        logger
            .event(Level::BAD)
            .facility("flog.panic")
            .format("panic in thread '{thread}' at {location}: {message}")
            .field("message", message)
            .field("location", location)
            .field("thread", thread)
            .error()
            .failure(Backtrace::force_capture().to_string())
            .emit();
        previous(info);
    }));
}
