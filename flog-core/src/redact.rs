use std::borrow::Cow;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::callsite::Callsite;
use crate::event::Event;
use crate::value::Value;

/// What a redacted value is replaced by. Redaction never drops a field, so a
/// reader still sees that the value existed.
pub const REDACTED: &str = "<redacted>";

/// Field names redacted by default: a field whose name contains one of these,
/// in any case, has its value replaced.
pub const DEFAULT_SENSITIVE: &[&str] = &[
    "password",
    "passwd",
    "secret",
    "token",
    "authorization",
    "api_key",
    "apikey",
    "cookie",
    "private_key",
    "credential",
];

type Hook = Arc<dyn Fn(&mut Event) + Send + Sync>;

/// A redaction policy: which fields to mask, applied to every event as it is
/// generated, before it reaches a buffer, an observer, a file or the wire.
#[derive(Clone)]
pub struct Redaction {
    /// Lowercase needles matched anywhere in a field name.
    needles: Vec<String>,
    shortest: usize,
    hook: Option<Hook>,
    verdicts: Arc<VerdictCache>,
    /// Names these needles: a new one whenever they change (a clone keeps
    /// it, having the same needles), so a call site's cached verdicts
    /// (see [`apply_at`](Self::apply_at)) are for this policy or recomputed.
    id: u64,
}

/// The [`Redaction::tag`] of no policy at all.
pub(crate) const NO_POLICY: u64 = 0;
/// The tag of a policy whose verdicts a call site cannot apply alone.
pub(crate) const UNCACHEABLE: u64 = u64::MAX;

/// The tag of `policy` (see [`Redaction::tag`]), [`NO_POLICY`] for none.
pub(crate) fn redaction_tag(policy: Option<&Redaction>) -> u64 {
    policy.map_or(NO_POLICY, Redaction::tag)
}

/// Applies the verdicts `callsite` cached under the policy whose tag is
/// `tag` to the `values` of its fields, without the policy: false, with
/// the values as they were, when none are cached under it, or a value
/// nests (its entries' names need the policy).
#[inline]
pub(crate) fn apply_cached(tag: u64, values: &mut [Value], callsite: &Callsite) -> bool {
    let cached = callsite.redaction.load(Ordering::Relaxed);
    if cached >> 32 != tag
        || values.len() > 32
        || values
            .iter()
            .any(|v| matches!(v, Value::Map(_) | Value::List(_)))
    {
        return false;
    }
    for (i, value) in values.iter_mut().enumerate() {
        mask_value(cached as u32, i, value);
    }
    true
}

/// Replaces `value`, the `i`th field, with [`REDACTED`] when its bit is set
/// in `mask`; true if it did.
#[inline(always)]
fn mask_value(mask: u32, i: usize, value: &mut Value) -> bool {
    let masked = mask >> i & 1 == 1;
    if masked {
        *value = Value::Text(Cow::Borrowed(REDACTED));
    }
    masked
}

/// A policy id no policy has had; ids past `u32::MAX` are not cached.
fn new_policy_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Verdicts for `'static` field names, keyed by address and length: call sites
/// name their fields with literals, so after the first event a field costs a
/// load and a compare instead of a case-insensitive search per pattern. A
/// `'static` string never moves or changes, so its address is a sound key.
struct VerdictCache([AtomicU64; 64]);

impl VerdictCache {
    fn new() -> VerdictCache {
        VerdictCache(std::array::from_fn(|_| AtomicU64::new(0)))
    }

    fn key(name: &'static str) -> Option<(usize, u64)> {
        let addr = name.as_ptr() as u64;
        // Room for a 47-bit address, a 16-bit length and the verdict bit.
        if addr >= 1 << 47 || name.len() > 0xFFFF {
            return None;
        }
        let slot = ((addr ^ (addr >> 6) ^ name.len() as u64) & 63) as usize;
        Some((slot, (addr << 17) | ((name.len() as u64) << 1)))
    }
}

impl fmt::Debug for Redaction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redaction")
            .field("needles", &self.needles)
            .field("hook", &self.hook.is_some())
            .finish()
    }
}

impl Default for Redaction {
    /// The [`DEFAULT_SENSITIVE`] names.
    fn default() -> Self {
        DEFAULT_SENSITIVE
            .iter()
            .fold(Redaction::none(), |r, n| r.field(*n))
    }
}

impl Redaction {
    /// A policy that redacts nothing (add names or a hook).
    pub fn none() -> Redaction {
        Redaction {
            needles: Vec::new(),
            shortest: usize::MAX,
            hook: None,
            verdicts: Arc::new(VerdictCache::new()),
            id: new_policy_id(),
        }
    }

    /// Also redact fields whose name contains `pattern` (case-insensitive).
    #[must_use]
    pub fn field(mut self, pattern: impl AsRef<str>) -> Redaction {
        let needle = pattern.as_ref().to_ascii_lowercase();
        if !needle.is_empty() && !self.needles.contains(&needle) {
            self.shortest = self.shortest.min(needle.len());
            self.needles.push(needle);
            self.verdicts = Arc::new(VerdictCache::new());
            self.id = new_policy_id();
        }
        self
    }

    /// A custom rule, run after the name rules with the whole event (to mask
    /// text in messages, say). Set `Value::Text(REDACTED)` rather than removing.
    #[must_use]
    pub fn hook(mut self, hook: impl Fn(&mut Event) + Send + Sync + 'static) -> Redaction {
        self.hook = Some(Arc::new(hook));
        self
    }

    /// What a logger keeps of this policy for the events of `msg!` call
    /// sites, read with one load instead of the policy: its id, under which
    /// call sites cache their verdicts ([`apply_cached`] applies them), or
    /// [`UNCACHEABLE`] when the policy itself is needed (a hook, or an id
    /// past 32 bits).
    fn tag(&self) -> u64 {
        if self.hook.is_some() || self.id > u64::from(u32::MAX) {
            UNCACHEABLE
        } else {
            self.id
        }
    }

    /// Whether the policy has a hook (which may change anything in an event).
    pub(crate) fn has_hook(&self) -> bool {
        self.hook.is_some()
    }

    /// Whether a field called `name` is redacted.
    pub fn is_sensitive(&self, name: &str) -> bool {
        // Most field names are shorter than any needle; skip them at once.
        if name.len() < self.shortest {
            return false;
        }
        let name = name.as_bytes();
        self.needles.iter().any(|needle| {
            name.windows(needle.len())
                .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
        })
    }

    // The borrowed-or-owned distinction is the point: only `'static` names are cached.
    #[allow(clippy::ptr_arg)]
    fn is_sensitive_cached(&self, name: &Cow<'static, str>) -> bool {
        let Cow::Borrowed(name) = name else {
            return self.is_sensitive(name);
        };
        let Some((slot, key)) = VerdictCache::key(name) else {
            return self.is_sensitive(name);
        };
        let entry = &self.verdicts.0[slot];
        let cached = entry.load(Ordering::Relaxed);
        if cached & !1 == key {
            return cached & 1 == 1;
        }
        let verdict = self.is_sensitive(name);
        entry.store(key | u64::from(verdict), Ordering::Relaxed);
        verdict
    }

    /// Applies the policy to one event.
    pub fn apply(&self, event: &mut Event) {
        if !self.needles.is_empty() {
            for (name, value) in event.fields.iter_mut() {
                if self.is_sensitive_cached(name) {
                    *value = Value::Text(Cow::Borrowed(REDACTED));
                } else if matches!(value, Value::Map(_) | Value::List(_)) {
                    self.apply_field("", value);
                }
            }
        }
        if let Some(hook) = &self.hook {
            hook(event);
        }
    }

    /// [`apply`](Self::apply) for an event of a `msg!` call site, whose
    /// field names are the same in every call: which of them are sensitive
    /// is computed once per call site and policy, and kept in `callsite`.
    pub(crate) fn apply_at(&self, event: &mut Event, callsite: &Callsite) {
        let names = event.fields.iter().map(|(name, _)| &**name);
        let Some(mask) = self.sensitive_mask(names, callsite) else {
            return self.apply(event);
        };
        self.apply_mask(mask, event.fields.iter_mut().map(|(_, value)| value));
        if let Some(hook) = &self.hook {
            hook(event);
        }
    }

    /// [`apply_at`](Self::apply_at) for the `values` of a `msg!` call's
    /// fields `names`, with no [`Event`] made: false, with the values as
    /// they were, when that cannot be done without one (the policy has a
    /// hook, or the call site's verdicts cannot be cached).
    #[inline]
    pub(crate) fn apply_values(
        &self,
        names: &[&'static str],
        values: &mut [Value],
        callsite: &Callsite,
    ) -> bool {
        if self.hook.is_some() {
            return false;
        }
        let Some(mask) = self.sensitive_mask(names.iter().copied(), callsite) else {
            return false;
        };
        self.apply_mask(mask, values.iter_mut());
        true
    }

    /// Redacts the values whose bit is set in `mask`, and the sensitive
    /// entries nested in the others.
    #[inline]
    fn apply_mask<'v>(&self, mask: u32, values: impl Iterator<Item = &'v mut Value>) {
        for (i, value) in values.enumerate() {
            if !mask_value(mask, i, value) && matches!(value, Value::Map(_) | Value::List(_)) {
                self.apply_field("", value);
            }
        }
    }

    /// A bit per field, set where its name is sensitive: the call site's
    /// cached word when it was made under this policy, else computed and
    /// cached. `None` when it cannot be cached (more than 32 fields, or an
    /// id past 32 bits).
    #[inline]
    fn sensitive_mask<'n>(
        &self,
        names: impl ExactSizeIterator<Item = &'n str>,
        callsite: &Callsite,
    ) -> Option<u32> {
        if self.id > u64::from(u32::MAX) || names.len() > 32 {
            return None;
        }
        // One word holds the policy id and the verdicts, so no thread can
        // read verdicts filed under another policy.
        let cached = callsite.redaction.load(Ordering::Relaxed);
        if cached >> 32 == self.id {
            return Some(cached as u32);
        }
        let mask = names.enumerate().fold(0u32, |m, (i, name)| {
            m | u32::from(self.is_sensitive(name)) << i
        });
        callsite
            .redaction
            .store(self.id << 32 | u64::from(mask), Ordering::Relaxed);
        Some(mask)
    }

    fn apply_field(&self, name: &str, value: &mut Value) {
        if self.is_sensitive(name) {
            *value = Value::Text(Cow::Borrowed(REDACTED));
            return;
        }
        match value {
            Value::Map(entries) => {
                for (k, v) in entries.iter_mut() {
                    self.apply_field(k, v);
                }
            }
            Value::List(items) => {
                for item in items.iter_mut() {
                    if matches!(item, Value::Map(_) | Value::List(_)) {
                        self.apply_field("", item);
                    }
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Text;

    #[test]
    fn sensitive_names_are_masked_anywhere_in_any_case() {
        let r = Redaction::default();
        for name in [
            "password",
            "db_Password",
            "X-Auth-TOKEN",
            "Authorization",
            "aws_secret_access_key",
        ] {
            assert!(r.is_sensitive(name), "{name}");
        }
        for name in ["user", "ok", "tok", "pass", "waited_ms"] {
            assert!(!r.is_sensitive(name), "{name}");
        }
        let mut e = Event {
            text: Text::Format("login {user} with {password}".into()),
            fields: [
                ("user".into(), "alice".into()),
                ("password".into(), "hunter2".into()),
                (
                    "headers".into(),
                    Value::Map(vec![
                        ("authorization".into(), "Bearer xyz".into()),
                        ("accept".into(), "*/*".into()),
                    ]),
                ),
                (
                    "list".into(),
                    Value::List(vec![Value::Map(vec![("token".into(), 1.into())])]),
                ),
            ]
            .into_iter()
            .collect(),
            ..Event::default()
        };
        r.apply(&mut e);
        assert_eq!(e.render(), "login alice with <redacted>");
        assert_eq!(e.fields.len(), 4, "nothing dropped");
        let shown = format!("{:?}", e.fields);
        assert!(
            !shown.contains("hunter2") && !shown.contains("xyz"),
            "{shown}"
        );
        assert!(shown.contains("*/*"));
        assert!(!format!("{:?}", e.fields[3]).contains("1)"));
    }

    #[test]
    fn cached_verdicts_tell_apart_literals_sharing_an_address() {
        let long: &'static str = "password";
        let short: &'static str = &long[..4];
        let r = Redaction::default();
        for _ in 0..2 {
            assert!(r.is_sensitive_cached(&Cow::Borrowed(long)));
            assert!(!r.is_sensitive_cached(&Cow::Borrowed(short)));
            assert!(r.is_sensitive_cached(&Cow::Owned("my_token".into())));
        }
        // A policy changed by a builder call does not reuse stale verdicts.
        let r = r.field("pass");
        assert!(r.is_sensitive_cached(&Cow::Borrowed(short)));
    }

    /// One `msg!` call site, logged under policies that change between
    /// calls and alternating between two loggers: each event is masked by
    /// the policy of its logger at that moment, never by a cached verdict of
    /// another.
    #[test]
    fn a_call_site_masks_by_the_policy_in_force() {
        use crate::{Level, Logger};
        fn log(logger: &Logger) -> Event {
            crate::msg!(
                logger = logger,
                Level::OPERATIONAL,
                "login {user} with {password}",
                user = "alice",
                password = "hunter2"
            );
            logger.buffered_events().pop().unwrap()
        }
        let shown = |e: &Event| (e.field("user").cloned(), e.field("password").cloned());
        let masked = Some(Value::from(REDACTED));
        let (alice, hunter) = (Some(Value::from("alice")), Some(Value::from("hunter2")));
        let a = Logger::new();
        let b = Logger::builder()
            .redaction(Some(Redaction::none().field("USER")))
            .build()
            .unwrap();
        for _ in 0..2 {
            assert_eq!(shown(&log(&a)), (alice.clone(), masked.clone()));
            assert_eq!(shown(&log(&b)), (masked.clone(), hunter.clone()));
        }
        a.set_redaction(Some(Redaction::none().field("user")));
        assert_eq!(shown(&log(&a)), (masked.clone(), hunter.clone()));
        a.set_redaction(Some(Redaction::default().field("user")));
        assert_eq!(shown(&log(&a)), (masked.clone(), masked.clone()));
        a.set_redaction(None);
        assert_eq!(shown(&log(&a)), (alice.clone(), hunter.clone()));
        a.set_redaction(Some(Redaction::default()));
        assert_eq!(shown(&log(&a)), (alice.clone(), masked.clone()));
        assert_eq!(shown(&log(&b)), (masked, hunter));
    }

    #[test]
    fn hooks_see_the_whole_event() {
        let r = Redaction::none().hook(|e: &mut Event| {
            if e.raw_text().contains("ssn=") {
                e.text = Text::Message(REDACTED.into());
            }
        });
        let mut e = Event {
            text: Text::Message("ssn=123".into()),
            fields: [("password".into(), "kept: no name rules".into())]
                .into_iter()
                .collect(),
            ..Event::default()
        };
        r.apply(&mut e);
        assert_eq!(e.render(), REDACTED);
        assert_eq!(
            e.field("password"),
            Some(&Value::from("kept: no name rules"))
        );
    }
}
