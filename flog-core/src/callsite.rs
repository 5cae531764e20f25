//! What a call site remembers between its calls: the verdicts that depend
//! only on the call site's constant parts (its field names, its facility
//! and format string), so an event does not compute them again. Each is one
//! atomic word tagged with the configuration it was computed under, and
//! recomputed when that changes. A [`msg!`](crate::msg) call keeps one in a
//! `static`; a bridge from another logging API keeps one per call site of
//! that API (see [`Logger::emit_fields`](crate::Logger::emit_fields)).

use std::borrow::Cow;
use std::sync::atomic::AtomicU64;
use std::sync::OnceLock;

/// The per-call-site cache of [`msg!`](crate::msg) and
/// [`Logger::emit_fields`](crate::Logger::emit_fields).
///
/// Every event given with one `Callsite` must have the same field names, in
/// the same order (the redaction verdicts are cached per field position).
/// One made with `constant` true must also have the same facility and the
/// same text in every call: its events are then stored as compact records
/// whose facility, text and names are kept once, in the logger's call-site
/// dictionary, under the entry cached here. The cache is tagged with the
/// logger it was made for, so one `Callsite` may serve several loggers (at
/// the cost of a lookup whenever the logger changes).
#[derive(Debug)]
pub struct Callsite {
    /// The redaction verdicts of the call site's fields: the policy's id in
    /// the high 32 bits, a bit per field (sensitive = 1) in the low 32; 0
    /// when none is cached. See `Redaction::apply_at`.
    pub(crate) redaction: AtomicU64,
    /// The call site's entry in a logger's call-site dictionary (see
    /// `buffer::sites`): the dictionary's id, the level and the entry; 0
    /// when none is cached.
    pub(crate) site: AtomicU64,
    /// The slot of the call site's buffer in a logger's buffers (see
    /// `Buffers::with_ring`): the buffers' id, the level and the slot; 0
    /// when none is cached.
    pub(crate) ring: AtomicU64,
    /// Whether the facility and the text are the same in every call (a
    /// literal or none, and a format string), so that they can be interned.
    pub(crate) constant: bool,
    /// Whether the text is a format string and the facility an expression
    /// that may be a `&'static str` (see [`interns`](Self::interns)).
    static_facility: bool,
    /// The facility the call site's interned entry and buffer slot are
    /// for, where the facility is an expression: the first `&'static str`
    /// it gave, set once and never changed.
    owner: OnceLock<&'static str>,
}

impl Callsite {
    /// An empty cache; `constant` says whether the facility and the text of
    /// the call site are the same in every call. A `const fn`, for a
    /// `static`, and as well at run time (for a call site known only then,
    /// leaked or kept for as long as the events are logged).
    pub const fn new(constant: bool) -> Callsite {
        Callsite {
            redaction: AtomicU64::new(0),
            site: AtomicU64::new(0),
            ring: AtomicU64::new(0),
            constant,
            static_facility: false,
            owner: OnceLock::new(),
        }
    }

    /// An empty cache for a call site with a format string and a facility
    /// expression: its events are interned while the facility is the
    /// first `&'static str` it gave.
    pub const fn with_facility_expr() -> Callsite {
        Callsite {
            redaction: AtomicU64::new(0),
            site: AtomicU64::new(0),
            ring: AtomicU64::new(0),
            constant: false,
            static_facility: true,
            owner: OnceLock::new(),
        }
    }

    /// Whether an event of this call site with `facility` may use (and
    /// fill) the call site's cached dictionary entry and buffer slot:
    /// always for a constant call site; for a facility expression, only
    /// when it is the `&'static str` (same address and length, so the same
    /// text: a `'static` string never changes) the caches were made for.
    /// Another facility of the same call site is looked up per call, as a
    /// `String` always is.
    #[inline(always)]
    pub(crate) fn interns(&self, facility: Option<&Cow<'static, str>>) -> bool {
        if self.constant {
            return true;
        }
        match facility {
            Some(Cow::Borrowed(name)) if self.static_facility => {
                std::ptr::eq(*self.owner.get_or_init(|| name), *name)
            }
            _ => false,
        }
    }
}
