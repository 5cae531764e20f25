/// Logs an event; evaluates field values only when the event is generated.
///
/// ```
/// use flog_core::{msg, Level, Logger};
///
/// let logger = Logger::new();
/// let waited_ms = 250;
/// let num = msg!(logger = logger, Level::WEIRD, facility = "app.db",
///                "pool exhausted after {waited_ms} ms", waited_ms = waited_ms);
/// assert!(num.is_some());
/// // The default process-wide logger, a parent and a plain message:
/// msg!(Level::OPERATIONAL, parent = num, message = format!("retrying"));
/// ```
///
/// Forms: `msg!([logger = L,] LEVEL, [facility = F,] [parent = P,] [is_error = B,]
/// "format {name}", name = value, ...)`, or `message = TEXT` in place of the format
/// string for text that must not be formatted. Returns `Option<u64>`: the event
/// number, or `None` when the event was below its threshold.
#[macro_export]
macro_rules! msg {
    (logger = $logger:expr, $level:expr, $($rest:tt)+) => {
        $crate::__flog_msg!(($logger, $level, ::core::option::Option::None, ::core::option::Option::None, false) $($rest)+)
    };
    ($level:expr, $($rest:tt)+) => {
        $crate::__flog_msg!(($crate::logger(), $level, ::core::option::Option::None, ::core::option::Option::None, false) $($rest)+)
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __flog_msg {
    // A literal facility never changes, so the call site caches its verdict.
    (($lg:expr, $lv:expr, $fac:expr, $par:expr, $err:expr) facility = $v:literal, $($rest:tt)+) => {
        $crate::__flog_msg!(@static $v ($lg, $lv, ::core::option::Option::Some(::std::borrow::Cow::Borrowed($v)), $par, $err) $($rest)+)
    };
    (@static $lit:literal ($lg:expr, $lv:expr, $fac:expr, $par:expr, $err:expr) parent = $v:expr, $($rest:tt)+) => {
        $crate::__flog_msg!(@static $lit ($lg, $lv, $fac, ::core::option::Option::<u64>::from($v), $err) $($rest)+)
    };
    (@static $lit:literal ($lg:expr, $lv:expr, $fac:expr, $par:expr, $err:expr) is_error = $v:expr, $($rest:tt)+) => {
        $crate::__flog_msg!(@static $lit ($lg, $lv, $fac, $par, $v) $($rest)+)
    };
    (@static $lit:literal ($lg:expr, $lv:expr, $fac:expr, $par:expr, $err:expr) message = $m:expr $(, $k:ident = $val:expr)* $(,)?) => {
        $crate::__flog_msg!(@emit [$lit] ($lg, $lv, $fac, $par, $err) $crate::Text::Message(::std::borrow::Cow::from($m)) $(, $k = $val)*)
    };
    (@static $lit:literal ($lg:expr, $lv:expr, $fac:expr, $par:expr, $err:expr) $fmt:literal $(, $k:ident = $val:expr)* $(,)?) => {
        $crate::__flog_msg!(@emit [$lit] ($lg, $lv, $fac, $par, $err) $crate::Text::Format(::std::borrow::Cow::Borrowed($fmt)) $(, $k = $val)*)
    };
    (($lg:expr, $lv:expr, $fac:expr, $par:expr, $err:expr) facility = $v:expr, $($rest:tt)+) => {
        $crate::__flog_msg!(($lg, $lv, ::core::option::Option::Some(::std::borrow::Cow::<'static, str>::from($v)), $par, $err) $($rest)+)
    };
    (($lg:expr, $lv:expr, $fac:expr, $par:expr, $err:expr) parent = $v:expr, $($rest:tt)+) => {
        $crate::__flog_msg!(($lg, $lv, $fac, ::core::option::Option::<u64>::from($v), $err) $($rest)+)
    };
    (($lg:expr, $lv:expr, $fac:expr, $par:expr, $err:expr) is_error = $v:expr, $($rest:tt)+) => {
        $crate::__flog_msg!(($lg, $lv, $fac, $par, $v) $($rest)+)
    };
    (($lg:expr, $lv:expr, $fac:expr, $par:expr, $err:expr) message = $m:expr $(, $k:ident = $val:expr)* $(,)?) => {
        $crate::__flog_msg!(@emit [] ($lg, $lv, $fac, $par, $err) $crate::Text::Message(::std::borrow::Cow::from($m)) $(, $k = $val)*)
    };
    (($lg:expr, $lv:expr, $fac:expr, $par:expr, $err:expr) $fmt:literal $(, $k:ident = $val:expr)* $(,)?) => {
        $crate::__flog_msg!(@emit [] ($lg, $lv, $fac, $par, $err) $crate::Text::Format(::std::borrow::Cow::Borrowed($fmt)) $(, $k = $val)*)
    };
    (@enabled [$lit:literal] $logger:ident $level:ident $facility:ident) => {{
        static __CACHE: $crate::macros::__private::CallsiteCache = $crate::macros::__private::CallsiteCache::new();
        $logger.enabled_at(&__CACHE, $level, $lit)
    }};
    (@enabled [] $logger:ident $level:ident $facility:ident) => {
        $logger.enabled($level, $facility.as_deref())
    };
    (@emit [$($lit:literal)?] ($lg:expr, $lv:expr, $fac:expr, $par:expr, $err:expr) $text:expr $(, $k:ident = $val:expr)*) => {{
        let __logger: &$crate::Logger = &$lg;
        let __level: $crate::Level = $lv;
        let __facility: ::core::option::Option<::std::borrow::Cow<'static, str>> = $fac;
        if $crate::__flog_msg!(@enabled [$($lit)?] __logger __level __facility) {
            ::core::option::Option::Some($crate::macros::__private::emit_with(
                __logger,
                __level,
                __facility,
                $par,
                $err,
                #[allow(unused_variables)]
                |__fields: &mut $crate::Fields| {
                    $( __fields.push((::std::borrow::Cow::Borrowed(::core::stringify!($k)), $crate::Value::from($val))); )*
                    $text
                },
            ))
        } else {
            ::core::option::Option::None
        }
    }};
}

#[doc(hidden)]
pub mod __private {
    use std::borrow::Cow;

    pub use crate::threshold::CallsiteCache;
    use crate::{Event, Fields, Level, Logger, Text};

    /// The enabled path of `msg!`, kept out of line so that a call site whose
    /// event is below its threshold pays for a load and a compare, not for the
    /// stack frame of building an event.
    #[inline(never)]
    pub fn emit_with(
        logger: &Logger,
        level: Level,
        facility: Option<Cow<'static, str>>,
        parent: Option<u64>,
        is_error: bool,
        build: impl FnOnce(&mut Fields) -> Text,
    ) -> u64 {
        // Fields are built in place: moving a filled `Fields` into the event
        // would copy its inline storage once more.
        let mut event = Event {
            level,
            facility,
            parent,
            is_error,
            ..Event::default()
        };
        event.text = build(&mut event.fields);
        logger.emit(event)
    }
}
