//! The logging macros: [`msg!`](crate::msg) and one per named level.
//!
//! `msg!` parses its arguments with a token muncher: the logger, the level,
//! the options (`facility`, `parent`, `is_error`, `failure`), the text and the
//! fields, then emits one block that checks the format string at compile time,
//! checks the threshold (cached at the call site when the facility is fixed)
//! and builds the event only when it is generated.

/// Logs an event; evaluates field values only when the event is generated.
///
/// ```
/// use flog_core::{msg, weird, Level, Logger};
///
/// let logger = Logger::new();
/// let waited_ms = 250;
/// let pool = String::from("main");
/// // Shorthand fields (`waited_ms` is `waited_ms = waited_ms`), any `&str`:
/// let num = weird!(logger = logger, facility = "app.db",
///                  "pool {pool} exhausted after {waited_ms} ms", waited_ms, pool = pool.as_str());
/// assert!(num.is_some());
/// // `%value` records Display text, `?value` Debug text; `failure` takes an
/// // error and records it with its chain of sources:
/// let err = std::io::Error::other("connection reset");
/// msg!(logger = logger, Level::UNUSUAL, parent = num, failure = err,
///      "retrying {addr} ({how})", addr = %"10.0.0.1:5432", how = ?("backoff", 2));
/// // The process-wide logger (see `flog_core::set_global`), a level by name
/// // and plain text that is never formatted:
/// msg!(OPERATIONAL, message = format!("recovered after {waited_ms} ms"));
/// ```
///
/// Forms: `msg!([logger = L,] LEVEL, [facility = F,] [parent = P,] [is_error = B,]
/// [failure = E,] "format {name}", FIELD, ...)`, or `message = TEXT` in place of
/// the format string for text that must not be formatted. `LEVEL` is a
/// [`Level`](crate::Level) expression or one of the names `NOISY`,
/// `OPERATIONAL`, `UNUSUAL`, `INFREQUENT`, `CURIOUS`, `WEIRD`, `SCARY`, `BAD`;
/// [`weird!`](crate::weird) and its siblings are the same with the level
/// left out. Returns `Option<u64>`: the event number, or `None` when the event
/// was below its threshold.
///
/// A `FIELD` is one of:
///
/// | form | records |
/// |---|---|
/// | `name = value` | anything `Into<Value>`: numbers, `bool`, any `&str` (copied when the event is generated; a string literal is not copied at all), `String`, [`Level`](crate::Level), `Option`s of those, ... |
/// | `name = %value` | the value's `Display` text |
/// | `name = ?value` | the value's `Debug` text |
/// | `name`, `%name`, `?name` | the variable `name`, borrowed (cloned into the event) |
///
/// Every `{placeholder}` in the format string must name a field of the call:
/// this is checked at compile time, and so are positional `{}` and format
/// specs (`{x:?}`), which are refused. `failure = E` takes any `E: Error` (a
/// `&dyn Error` too; for a `Box<dyn Error>` write `&*e`), sets the event's
/// failure text to the error and its chain of sources (see
/// [`error_chain`](crate::error_chain)) and marks the event as an error.
///
/// The threshold verdict of a call site is cached there when its facility is
/// fixed: a string literal, a `const`, a `static` or any other `&'static str`.
/// A facility made at run time (a `String`) is looked up per call.
#[macro_export]
macro_rules! msg {
    (logger = $logger:expr, $($rest:tt)+) => {
        $crate::__flog_level!(($logger) $($rest)+)
    };
    ($($rest:tt)+) => {
        $crate::__flog_level!(($crate::logger()) $($rest)+)
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __flog_level {
    (($lg:expr) NOISY, $($rest:tt)+) => {
        $crate::__flog_msg!(@opts ($lg, $crate::Level::NOISY) [] [] [] [] $($rest)+)
    };
    (($lg:expr) OPERATIONAL, $($rest:tt)+) => {
        $crate::__flog_msg!(@opts ($lg, $crate::Level::OPERATIONAL) [] [] [] [] $($rest)+)
    };
    (($lg:expr) UNUSUAL, $($rest:tt)+) => {
        $crate::__flog_msg!(@opts ($lg, $crate::Level::UNUSUAL) [] [] [] [] $($rest)+)
    };
    (($lg:expr) INFREQUENT, $($rest:tt)+) => {
        $crate::__flog_msg!(@opts ($lg, $crate::Level::INFREQUENT) [] [] [] [] $($rest)+)
    };
    (($lg:expr) CURIOUS, $($rest:tt)+) => {
        $crate::__flog_msg!(@opts ($lg, $crate::Level::CURIOUS) [] [] [] [] $($rest)+)
    };
    (($lg:expr) WEIRD, $($rest:tt)+) => {
        $crate::__flog_msg!(@opts ($lg, $crate::Level::WEIRD) [] [] [] [] $($rest)+)
    };
    (($lg:expr) SCARY, $($rest:tt)+) => {
        $crate::__flog_msg!(@opts ($lg, $crate::Level::SCARY) [] [] [] [] $($rest)+)
    };
    (($lg:expr) BAD, $($rest:tt)+) => {
        $crate::__flog_msg!(@opts ($lg, $crate::Level::BAD) [] [] [] [] $($rest)+)
    };
    (($lg:expr) $level:expr, $($rest:tt)+) => {
        $crate::__flog_msg!(@opts ($lg, $level) [] [] [] [] $($rest)+)
    };
}

/// [`msg!`](crate::msg) at [`Level::NOISY`](crate::Level::NOISY): `noisy!([logger = L,] [facility = F,] ..., "format {name}", FIELD, ...)`.
#[macro_export]
macro_rules! noisy {
    (logger = $logger:expr, $($rest:tt)+) => {
        $crate::__flog_msg!(@opts ($logger, $crate::Level::NOISY) [] [] [] [] $($rest)+)
    };
    ($($rest:tt)+) => {
        $crate::__flog_msg!(@opts ($crate::logger(), $crate::Level::NOISY) [] [] [] [] $($rest)+)
    };
}

/// [`msg!`](crate::msg) at [`Level::OPERATIONAL`](crate::Level::OPERATIONAL): `operational!([logger = L,] [facility = F,] ..., "format {name}", FIELD, ...)`.
#[macro_export]
macro_rules! operational {
    (logger = $logger:expr, $($rest:tt)+) => {
        $crate::__flog_msg!(@opts ($logger, $crate::Level::OPERATIONAL) [] [] [] [] $($rest)+)
    };
    ($($rest:tt)+) => {
        $crate::__flog_msg!(@opts ($crate::logger(), $crate::Level::OPERATIONAL) [] [] [] [] $($rest)+)
    };
}

/// [`msg!`](crate::msg) at [`Level::UNUSUAL`](crate::Level::UNUSUAL): `unusual!([logger = L,] [facility = F,] ..., "format {name}", FIELD, ...)`.
#[macro_export]
macro_rules! unusual {
    (logger = $logger:expr, $($rest:tt)+) => {
        $crate::__flog_msg!(@opts ($logger, $crate::Level::UNUSUAL) [] [] [] [] $($rest)+)
    };
    ($($rest:tt)+) => {
        $crate::__flog_msg!(@opts ($crate::logger(), $crate::Level::UNUSUAL) [] [] [] [] $($rest)+)
    };
}

/// [`msg!`](crate::msg) at [`Level::INFREQUENT`](crate::Level::INFREQUENT): `infrequent!([logger = L,] [facility = F,] ..., "format {name}", FIELD, ...)`.
#[macro_export]
macro_rules! infrequent {
    (logger = $logger:expr, $($rest:tt)+) => {
        $crate::__flog_msg!(@opts ($logger, $crate::Level::INFREQUENT) [] [] [] [] $($rest)+)
    };
    ($($rest:tt)+) => {
        $crate::__flog_msg!(@opts ($crate::logger(), $crate::Level::INFREQUENT) [] [] [] [] $($rest)+)
    };
}

/// [`msg!`](crate::msg) at [`Level::CURIOUS`](crate::Level::CURIOUS): `curious!([logger = L,] [facility = F,] ..., "format {name}", FIELD, ...)`.
#[macro_export]
macro_rules! curious {
    (logger = $logger:expr, $($rest:tt)+) => {
        $crate::__flog_msg!(@opts ($logger, $crate::Level::CURIOUS) [] [] [] [] $($rest)+)
    };
    ($($rest:tt)+) => {
        $crate::__flog_msg!(@opts ($crate::logger(), $crate::Level::CURIOUS) [] [] [] [] $($rest)+)
    };
}

/// [`msg!`](crate::msg) at [`Level::WEIRD`](crate::Level::WEIRD): `weird!([logger = L,] [facility = F,] ..., "format {name}", FIELD, ...)`.
#[macro_export]
macro_rules! weird {
    (logger = $logger:expr, $($rest:tt)+) => {
        $crate::__flog_msg!(@opts ($logger, $crate::Level::WEIRD) [] [] [] [] $($rest)+)
    };
    ($($rest:tt)+) => {
        $crate::__flog_msg!(@opts ($crate::logger(), $crate::Level::WEIRD) [] [] [] [] $($rest)+)
    };
}

/// [`msg!`](crate::msg) at [`Level::SCARY`](crate::Level::SCARY): `scary!([logger = L,] [facility = F,] ..., "format {name}", FIELD, ...)`.
#[macro_export]
macro_rules! scary {
    (logger = $logger:expr, $($rest:tt)+) => {
        $crate::__flog_msg!(@opts ($logger, $crate::Level::SCARY) [] [] [] [] $($rest)+)
    };
    ($($rest:tt)+) => {
        $crate::__flog_msg!(@opts ($crate::logger(), $crate::Level::SCARY) [] [] [] [] $($rest)+)
    };
}

/// [`msg!`](crate::msg) at [`Level::BAD`](crate::Level::BAD): `bad!([logger = L,] [facility = F,] ..., "format {name}", FIELD, ...)`.
#[macro_export]
macro_rules! bad {
    (logger = $logger:expr, $($rest:tt)+) => {
        $crate::__flog_msg!(@opts ($logger, $crate::Level::BAD) [] [] [] [] $($rest)+)
    };
    ($($rest:tt)+) => {
        $crate::__flog_msg!(@opts ($crate::logger(), $crate::Level::BAD) [] [] [] [] $($rest)+)
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __flog_msg {
    // Options, in any order, before the text. Slots: facility, parent,
    // is_error, failure.
    (@opts $h:tt $f:tt $p:tt $e:tt $x:tt facility = $v:literal, $($rest:tt)+) => {
        $crate::__flog_msg!(@opts $h [lit $v] $p $e $x $($rest)+)
    };
    (@opts $h:tt $f:tt $p:tt $e:tt $x:tt facility = $v:expr, $($rest:tt)+) => {
        $crate::__flog_msg!(@opts $h [expr $v] $p $e $x $($rest)+)
    };
    (@opts $h:tt $f:tt $p:tt $e:tt $x:tt parent = $v:expr, $($rest:tt)+) => {
        $crate::__flog_msg!(@opts $h $f [$v] $e $x $($rest)+)
    };
    (@opts $h:tt $f:tt $p:tt $e:tt $x:tt is_error = $v:expr, $($rest:tt)+) => {
        $crate::__flog_msg!(@opts $h $f $p [$v] $x $($rest)+)
    };
    (@opts $h:tt $f:tt $p:tt $e:tt $x:tt failure = $v:expr, $($rest:tt)+) => {
        $crate::__flog_msg!(@opts $h $f $p $e [$v] $($rest)+)
    };
    (@opts $h:tt $f:tt $p:tt $e:tt $x:tt message = $m:expr $(, $($rest:tt)*)?) => {
        $crate::__flog_msg!(@fields ($h $f $p $e $x [message $m]) [] $(, $($rest)*)?)
    };
    (@opts $h:tt $f:tt $p:tt $e:tt $x:tt $fmt:literal $(, $($rest:tt)*)?) => {
        $crate::__flog_msg!(@fields ($h $f $p $e $x [format $fmt]) [] $(, $($rest)*)?)
    };

    // Fields, collected as `(name kind value)`.
    (@fields $s:tt [$($acc:tt)*] $(,)?) => {
        $crate::__flog_msg!(@emit $s [$($acc)*])
    };
    (@fields $s:tt [$($acc:tt)*] , $k:ident = % $v:expr $(, $($rest:tt)*)?) => {
        $crate::__flog_msg!(@fields $s [$($acc)* ($k display $v)] $(, $($rest)*)?)
    };
    (@fields $s:tt [$($acc:tt)*] , $k:ident = ? $v:expr $(, $($rest:tt)*)?) => {
        $crate::__flog_msg!(@fields $s [$($acc)* ($k debug $v)] $(, $($rest)*)?)
    };
    (@fields $s:tt [$($acc:tt)*] , $k:ident = $v:literal $(, $($rest:tt)*)?) => {
        $crate::__flog_msg!(@fields $s [$($acc)* ($k literal $v)] $(, $($rest)*)?)
    };
    (@fields $s:tt [$($acc:tt)*] , $k:ident = $v:expr $(, $($rest:tt)*)?) => {
        $crate::__flog_msg!(@fields $s [$($acc)* ($k value $v)] $(, $($rest)*)?)
    };
    (@fields $s:tt [$($acc:tt)*] , % $k:ident $(, $($rest:tt)*)?) => {
        $crate::__flog_msg!(@fields $s [$($acc)* ($k display $k)] $(, $($rest)*)?)
    };
    (@fields $s:tt [$($acc:tt)*] , ? $k:ident $(, $($rest:tt)*)?) => {
        $crate::__flog_msg!(@fields $s [$($acc)* ($k debug $k)] $(, $($rest)*)?)
    };
    (@fields $s:tt [$($acc:tt)*] , $k:ident $(, $($rest:tt)*)?) => {
        $crate::__flog_msg!(@fields $s [$($acc)* ($k borrowed $k)] $(, $($rest)*)?)
    };

    (@emit (($lg:expr, $lv:expr) $f:tt [$($p:expr)?] [$($e:expr)?] [$($x:expr)?] $t:tt)
           [$(($k:ident $kind:ident $v:expr))*]) => {{
        $crate::__flog_msg!(@check $t [$($k)*]);
        let __logger: &$crate::Logger = &$lg;
        let __level: $crate::Level = $lv;
        $crate::__flog_msg!(@facility $f __logger __level __facility __enabled);
        if __enabled {
            static __CALLSITE: $crate::macros::__private::Callsite =
                $crate::__flog_msg!(@callsite $f $t);
            ::core::option::Option::Some($crate::macros::__private::emit_built(
                __logger,
                (__level, __facility, &__CALLSITE),
                &[$(::core::stringify!($k)),*],
                || {
                    // Evaluated in the order written: options, fields, text.
                    let mut __extras = $crate::macros::__private::Extras::default();
                    $( __extras.parent = ::core::option::Option::<u64>::from($p); )?
                    $( __extras.set_failure(&$x); )?
                    $( __extras.is_error = $e; )?
                    let __values = [$( $crate::__flog_msg!(@value $kind $v) ),*];
                    (__values, $crate::__flog_msg!(@text $t), __extras)
                },
            ))
        } else {
            ::core::option::Option::None
        }
    }};

    (@check [format $fmt:literal] [$($k:ident)*]) => {
        const _: () = $crate::macros::__private::check_placeholders(
            $fmt,
            &[$(::core::stringify!($k)),*],
        );
    };
    (@check [message $m:expr] $names:tt) => {};

    // The call site's cache: constant when the facility and the text are
    // the same in every call; with a facility expression, for the first
    // `&'static str` it gives (see `Callsite::interns`).
    (@callsite [] [format $fmt:literal]) => {
        $crate::macros::__private::Callsite::new(true)
    };
    (@callsite [lit $v:literal] [format $fmt:literal]) => {
        $crate::macros::__private::Callsite::new(true)
    };
    (@callsite [expr $v:expr] [format $fmt:literal]) => {
        $crate::macros::__private::Callsite::with_facility_expr()
    };
    (@callsite $f:tt $t:tt) => {
        $crate::macros::__private::Callsite::new(false)
    };

    (@text [format $fmt:literal]) => {
        $crate::Text::Format(::std::borrow::Cow::Borrowed($fmt))
    };
    (@text [message $m:expr]) => {
        $crate::Text::Message(::std::borrow::Cow::from($m))
    };

    (@value display $v:expr) => {
        $crate::Value::Text(::std::borrow::Cow::Owned(::std::format!("{}", $v)))
    };
    (@value debug $v:expr) => {
        $crate::Value::Text(::std::borrow::Cow::Owned(::std::format!("{:?}", $v)))
    };
    (@value literal $v:expr) => {
        $crate::macros::__private::Literal::into_value($v)
    };
    (@value value $v:expr) => {
        $crate::Value::from($v)
    };
    (@value borrowed $v:expr) => {
        $crate::macros::__private::ToValue::to_value(&$v)
    };

    // The threshold check. A literal facility never changes, so the call site
    // caches its verdict; another `&'static str` is cached too, checked to be
    // the one the cache was made for.
    (@facility [] $lg:ident $lv:ident $fac:ident $en:ident) => {
        let $fac: ::core::option::Option<::std::borrow::Cow<'static, str>> =
            ::core::option::Option::None;
        let $en = $lg.enabled($lv, ::core::option::Option::None);
    };
    (@facility [lit $v:literal] $lg:ident $lv:ident $fac:ident $en:ident) => {
        let $en = {
            static __CACHE: $crate::macros::__private::CallsiteCache =
                $crate::macros::__private::CallsiteCache::new();
            $lg.enabled_at(&__CACHE, $lv, $v)
        };
        let $fac = ::core::option::Option::Some(::std::borrow::Cow::Borrowed($v));
    };
    (@facility [expr $v:expr] $lg:ident $lv:ident $fac:ident $en:ident) => {
        let $fac = ::core::option::Option::Some(::std::borrow::Cow::<'static, str>::from($v));
        let $en = {
            static __CACHE: $crate::macros::__private::CallsiteCache =
                $crate::macros::__private::CallsiteCache::new();
            $crate::macros::__private::enabled_for($lg, &__CACHE, $lv, &$fac)
        };
    };
}

#[doc(hidden)]
pub mod __private {
    use std::borrow::Cow;

    pub use crate::callsite::Callsite;
    use crate::logger::Call;
    pub use crate::placeholders::check_placeholders;
    pub use crate::threshold::CallsiteCache;
    use crate::{error_chain, Level, Logger, Text, Value};

    /// The options of a `msg!` call besides its facility.
    #[derive(Debug, Default)]
    pub struct Extras {
        /// `parent = P`.
        pub parent: Option<u64>,
        /// `is_error = B`, or set by `failure = E`.
        pub is_error: bool,
        /// The failure text of `failure = E`.
        pub failure: Option<String>,
    }

    impl Extras {
        /// `failure = error`: its text and chain of sources, and the event
        /// marked as an error.
        pub fn set_failure(&mut self, error: &dyn std::error::Error) {
            self.failure = Some(error_chain(error));
            self.is_error = true;
        }
    }

    /// The enabled path of `msg!`, kept out of line so that a call site whose
    /// event is below its threshold pays for a load and a compare, not for the
    /// stack frame of building its values: `build` makes them here.
    #[inline(never)]
    pub fn emit_built<const N: usize>(
        logger: &Logger,
        site: (Level, Option<Cow<'static, str>>, &'static Callsite),
        names: &'static [&'static str; N],
        build: impl FnOnce() -> ([Value; N], Text, Extras),
    ) -> u64 {
        let (mut values, text, extras) = build();
        emit_fields(logger, site, (names, &mut values), text, extras)
    }

    /// The rest of [`emit_built`]: the call's values come as a slice, beside
    /// their names, so that one copy of this serves every call site.
    #[inline(never)]
    fn emit_fields(
        logger: &Logger,
        (level, facility, callsite): (Level, Option<Cow<'static, str>>, &'static Callsite),
        (names, values): (&'static [&'static str], &mut [Value]),
        text: Text,
        extras: Extras,
    ) -> u64 {
        logger.emit_call(Call {
            level,
            facility,
            callsite,
            names,
            values,
            text,
            parent: extras.parent,
            is_error: extras.is_error,
            failure: extras.failure,
        })
    }

    /// The threshold check of a call site whose facility is an expression.
    #[inline(always)]
    pub fn enabled_for(
        logger: &Logger,
        cache: &CallsiteCache,
        level: Level,
        facility: &Option<Cow<'static, str>>,
    ) -> bool {
        match facility {
            Some(Cow::Borrowed(name)) => logger.enabled_at_static(cache, level, name),
            other => logger.enabled(level, other.as_deref()),
        }
    }

    /// A literal field value: text literals are borrowed, not copied.
    pub trait Literal {
        /// The value.
        fn into_value(self) -> Value;
    }

    impl Literal for &'static str {
        #[inline]
        fn into_value(self) -> Value {
            Value::Text(Cow::Borrowed(self))
        }
    }

    impl<const N: usize> Literal for &'static [u8; N] {
        fn into_value(self) -> Value {
            Value::Bytes(self.to_vec())
        }
    }

    macro_rules! literal_via_from {
        ($($t:ty),*) => {$(
            impl Literal for $t {
                #[inline]
                fn into_value(self) -> Value {
                    Value::from(self)
                }
            }
        )*};
    }
    literal_via_from!(i8, i16, i32, i64, isize, u8, u16, u32, u64, usize, f32, f64, bool);

    /// A shorthand field (`msg!(..., conn)`): the variable is borrowed and
    /// its value cloned into the event, so the call does not move it.
    pub trait ToValue {
        /// The value.
        fn to_value(&self) -> Value;
    }

    impl<T: Clone + Into<Value>> ToValue for T {
        #[inline]
        fn to_value(&self) -> Value {
            self.clone().into()
        }
    }
}
