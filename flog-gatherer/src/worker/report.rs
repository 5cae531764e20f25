//! Telling the operator about a misbehaving publisher once per run of
//! misbehaviour, with a count, rather than once per attempt or per name: a
//! publisher must not decide how much the gatherer logs.

use std::time::Duration;

use crate::observer::Refusal;
use crate::units::human_duration;

/// Failed attempts in a row. The first failure of a kind is a warning; the
/// same failure again is logged at debug level only, and the first success
/// after failures says how many there were.
///
/// A failure is a repeat when its kind `K` (a typed summary of the error,
/// never its message text, which may differ in details) equals the last one's.
#[derive(Debug)]
pub(crate) struct FailureRun<K> {
    /// The kind of failure last warned about.
    last: Option<K>,
    /// Failed attempts since the last success.
    count: u64,
}

impl<K> Default for FailureRun<K> {
    fn default() -> Self {
        FailureRun {
            last: None,
            count: 0,
        }
    }
}

impl<K: PartialEq> FailureRun<K> {
    /// Whether the publisher is failing (no success since the last failure).
    pub(crate) fn failing(&self) -> bool {
        self.count > 0
    }

    /// Reports a failed attempt of kind `kind`; `url` is the redacted URL.
    /// Returns whether it warned (a new kind of failure) rather than noted a
    /// repeat at debug level.
    pub(crate) fn failed(
        &mut self,
        id: &str,
        url: &str,
        error: &str,
        kind: K,
        retry_in: Duration,
    ) -> bool {
        self.count += 1;
        let retry_in_ms = retry_in.as_millis() as u64;
        if self.last.as_ref() == Some(&kind) {
            tracing::debug!(
                publisher = id,
                error,
                retry_in_ms,
                "{id} still failing ({error}); retrying in {}",
                human_duration(retry_in),
            );
            return false;
        }
        self.last = Some(kind);
        tracing::warn!(
            publisher = id,
            url,
            error,
            retry_in_ms,
            "{id} ({url}) {error}; retrying in {}",
            human_duration(retry_in),
        );
        true
    }

    /// Reports a success, ending a run of failures.
    pub(crate) fn succeeded(&mut self, id: &str) {
        if self.count > 0 {
            let failures = self.count;
            tracing::info!(
                publisher = id,
                failures,
                "{id} is working again after {failures} failed attempts"
            );
        }
        self.count = 0;
        self.last = None;
    }
}

/// Listed incidents refused, round after round. The first round that
/// refuses any starts a run: one warning with the count and an example, and
/// a `Rejected` event per name of that round. Later rounds of the run are
/// only counted, and the first round refusing nothing ends the run with the
/// total.
#[derive(Debug, Default)]
pub(crate) struct Refusals {
    /// Rounds of the current run before this one; 0: no run.
    rounds: u64,
    /// Refusals of the current run before this round.
    total: u64,
    /// This round's refusals, and the first of them.
    this_round: u64,
    first: Option<(String, Refusal)>,
}

impl Refusals {
    /// Counts one refusal; true when it is the first round of a run, whose
    /// refusals are worth an event each.
    pub(crate) fn refuse(&mut self, name: &str, reason: &Refusal) -> bool {
        self.this_round += 1;
        if self.first.is_none() {
            self.first = Some((name.to_owned(), reason.clone()));
        }
        self.rounds == 0
    }

    /// Ends a round (whether it succeeded or not), reporting as above.
    pub(crate) fn end_round(&mut self, id: &str) {
        let refused = std::mem::take(&mut self.this_round);
        let first = self.first.take();
        match (refused, first) {
            (0, _) => {
                if self.rounds > 0 {
                    let (total, rounds) = (self.total, self.rounds);
                    tracing::info!(
                        publisher = id,
                        refused = total,
                        rounds,
                        "{id} lists only acceptable incidents again (refused {total} in {rounds} rounds)"
                    );
                }
                self.rounds = 0;
                self.total = 0;
            }
            (refused, Some((name, reason))) => {
                if self.rounds == 0 {
                    tracing::warn!(
                        publisher = id,
                        refused,
                        incident = name.as_str(),
                        reason = %reason,
                        "{id}: refused {refused} listed incidents, e.g. {name:?}: {reason}; \
                         more are counted, not logged, until it lists only acceptable ones"
                    );
                } else {
                    tracing::debug!(
                        publisher = id,
                        refused,
                        "{id}: refused {refused} listed incidents again"
                    );
                }
                self.rounds += 1;
                self.total += refused;
            }
            (_, None) => unreachable!("a refusal records the first one"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_of_refusals_gives_events_in_its_first_round_only() {
        let mut refusals = Refusals::default();
        assert!(refusals.refuse("../x", &Refusal::InvalidName));
        assert!(refusals.refuse("../y", &Refusal::InvalidName));
        refusals.end_round("p");
        assert!(!refusals.refuse("../x", &Refusal::InvalidName));
        refusals.end_round("p");
        assert_eq!((refusals.rounds, refusals.total), (2, 3));
        // A clean round ends the run; the next refusal starts another.
        refusals.end_round("p");
        assert_eq!((refusals.rounds, refusals.total), (0, 0));
        assert!(refusals.refuse("../z", &Refusal::InvalidName));
    }

    #[test]
    fn failures_count_until_a_success() {
        let mut run = FailureRun::default();
        assert!(!run.failing());
        let url = "flog+insecure://h:1/p/<secret>";
        let wait = Duration::from_secs(1);
        assert!(run.failed("p", url, "unreachable: a", 1, wait));
        // Same kind, other text: a repeat, not a new warning.
        assert!(!run.failed("p", url, "unreachable: b", 1, wait));
        assert!(run.failed("p", url, "unreachable: b", 2, wait));
        assert!(run.failing());
        assert_eq!(run.count, 3);
        run.succeeded("p");
        assert!(!run.failing());
        assert_eq!(run.last, None);
    }
}
