//! The path of a `msg!` call, and of a bridge's call site through
//! [`Logger::emit_fields`]: its event is stored as a compact record made
//! straight from the call's values, and an [`Event`] is built only for what
//! needs one (observers, a qualifier that must see it, a trigger, an open
//! incident's trailer, a record too long for its buffer, a redaction hook,
//! a call site's first event). Building, moving and dropping the ~400-byte
//! `Event` was about a third of an event's cost.

use std::borrow::Cow;
use std::sync::atomic::Ordering;

use super::Logger;
use crate::buffer::Parts;
use crate::callsite::Callsite;
use crate::event::{Event, Fields, Text};
use crate::incarnation::Incarnation;
use crate::level::Level;
use crate::redact::{apply_cached, NO_POLICY, UNCACHEABLE};
use crate::time::Timestamp;
use crate::value::Value;

/// One `msg!` call's event, as the macro hands it over: its values beside
/// its call site's constant names.
pub(crate) struct Call<'a> {
    pub(crate) level: Level,
    pub(crate) facility: Option<Cow<'static, str>>,
    pub(crate) callsite: &'static Callsite,
    pub(crate) names: &'static [&'static str],
    pub(crate) values: &'a mut [Value],
    pub(crate) text: Text,
    pub(crate) parent: Option<u64>,
    pub(crate) is_error: bool,
    pub(crate) failure: Option<String>,
}

impl Call<'_> {
    /// The event of the call, its values copied (for the rare paths that
    /// need one while the values are still to be stored).
    fn to_event(&self, num: u64, time: Timestamp, incarnation: Incarnation) -> Event {
        let fields: Fields = self
            .names
            .iter()
            .zip(self.values.iter())
            .map(|(name, value)| (Cow::Borrowed(*name), value.clone()))
            .collect();
        Event {
            num,
            time,
            incarnation,
            level: self.level,
            facility: self.facility.clone(),
            text: self.text.clone(),
            fields,
            parent: self.parent,
            is_error: self.is_error,
            failure: self.failure.clone(),
            stack: None,
        }
    }

    /// The event of the call, its values moved into it.
    fn into_event(self) -> Event {
        let fields: Fields = self
            .names
            .iter()
            .zip(self.values.iter_mut())
            .map(|(name, value)| (Cow::Borrowed(*name), std::mem::replace(value, Value::Null)))
            .collect();
        Event {
            level: self.level,
            facility: self.facility,
            text: self.text,
            fields,
            parent: self.parent,
            is_error: self.is_error,
            failure: self.failure,
            ..Event::default()
        }
    }
}

/// One event of a call site of another logging API (a `tracing` callsite),
/// given to [`Logger::emit_fields`] as its values beside its call site's
/// names, so that it can be stored as `msg!`'s events are: as a compact
/// record made straight from the values, with no [`Event`] built.
#[derive(Debug)]
pub struct SiteEvent<'a> {
    /// Severity.
    pub level: Level,
    /// Dotted hierarchical name, e.g. `app.db.pool`.
    pub facility: Option<Cow<'static, str>>,
    /// The field names, the same in every call with one [`Callsite`].
    pub names: &'static [&'static str],
    /// The field values, one per name; redaction may replace some. When
    /// their count is not the names', the call site's cached entry and
    /// redaction verdicts (made for its full set of names) cannot serve:
    /// the event is stored whole, as [`Logger::emit_unchecked`] stores one,
    /// with the pairs up to the shorter of the two.
    pub values: &'a mut [Value],
    /// The message or format string.
    pub text: Text,
    /// The number of the event this one is part of.
    pub parent: Option<u64>,
    /// Whether the event reports an error.
    pub is_error: bool,
    /// The error's text and chain of causes (see [`crate::error_chain`]).
    pub failure: Option<String>,
}

impl Logger {
    /// Generates the event of a bridge's call site, whose threshold the
    /// caller checked with [`enabled`](Self::enabled): numbered, redacted,
    /// qualified, buffered, captured and observed as
    /// [`emit_unchecked`](Self::emit_unchecked) does, the same event as
    /// `emit_unchecked` of an [`Event`] with these fields would be. Through
    /// a `callsite` made with `constant` true, whose facility and text are
    /// the same in every call (see [`Callsite`]), the event is stored
    /// compactly, as a [`msg!`](crate::msg) call's is, after the call
    /// site's first. Returns the event's number.
    pub fn emit_fields(&self, callsite: &'static Callsite, event: SiteEvent<'_>) -> u64 {
        // A record's values must match its entry's names one to one, and
        // the call site's cached redaction mask is one bit per name: a call
        // with another count goes without the call site (a first call with
        // fewer values would otherwise cache a mask that misses a later
        // call's sensitive field).
        let whole = event.names.len() != event.values.len();
        let n = event.names.len().min(event.values.len());
        let call = Call {
            level: event.level,
            facility: event.facility,
            callsite,
            names: &event.names[..n],
            values: &mut event.values[..n],
            text: event.text,
            parent: event.parent,
            is_error: event.is_error,
            failure: event.failure,
        };
        if whole {
            return self.emit_unchecked(call.into_event());
        }
        self.emit_call(call)
    }

    /// Generates the event of a `msg!` call (whose threshold was checked):
    /// as [`emit_unchecked`](Self::emit_unchecked) does, with the same
    /// numbering, redaction, qualifier, capture and observers.
    #[inline(always)]
    pub(crate) fn emit_call(&self, mut call: Call<'_>) -> u64 {
        if let Some(num) = self.emit_compact(&mut call) {
            return num;
        }
        let callsite = call.callsite;
        self.emit_at(call.into_event(), callsite)
    }

    /// Stores `call`'s event with no [`Event`] made, when nothing needs
    /// one; `None`, with nothing done, when something does. What
    /// `emit_inner` does, in the same order, for an event that declares no
    /// incident and reaches no observer.
    #[inline(always)]
    fn emit_compact(&self, call: &mut Call<'_>) -> Option<u64> {
        let s = &*self.shared;
        if s.observers.any() || s.incidents.qualifies_level(call.level) != Some(false) {
            return None;
        }
        // Cached after the call site's first event (made the whole way).
        let site = s
            .buffers
            .cached_site(call.callsite, call.facility.as_ref(), call.level)?;
        match s.redaction_tag.load(Ordering::Acquire) {
            NO_POLICY => {}
            tag if tag != UNCACHEABLE && apply_cached(tag, call.values, call.callsite) => {}
            _ => {
                if let Some(policy) = &*s.redaction.load() {
                    if !policy.apply_values(call.names, call.values, call.callsite) {
                        return None;
                    }
                }
            }
        }
        // The clock only once nothing can send the call the old way (which
        // reads it again), and before the number, as `emit_inner` does.
        let time = s.clock.now();
        let num = s.next_num.next();
        let call = &*call;
        let parts = Parts {
            num,
            time,
            site,
            parent: call.parent,
            is_error: call.is_error,
            failure: call.failure.as_deref(),
            stack: None,
        };
        let whole = || call.to_event(num, time, s.incarnation);
        let key = (call.facility.as_deref().unwrap_or(""), call.level);
        // The capture check runs while the buffer is locked, as in
        // `emit_inner`: a dump finds the event in its buffer, or the
        // capture has it.
        s.buffers
            .push_compact(call.callsite, key, (&parts, call.values), &whole, || {
                s.incidents.capture_with(whole)
            });
        Some(num)
    }
}
