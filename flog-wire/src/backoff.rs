//! Waits between attempts to reach a logport peer that is failing: a
//! gatherer polling a publisher, a publisher dialing out to a gatherer.

use std::time::Duration;

/// Exponential backoff with jitter: the ceiling doubles with each failure in
/// a row, from `min` up to `max`, and each wait is drawn from the upper half
/// of the ceiling, so that many publishers failing together (a network
/// blip) do not all come back at the same instant.
///
/// ```
/// use std::time::Duration;
/// use flog_wire::Backoff;
///
/// let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
/// let first = backoff.next_wait();
/// assert!(first >= Duration::from_millis(500) && first <= Duration::from_secs(1));
/// backoff.reset(); // after a success
/// ```
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    ceiling: Option<Duration>,
}

impl Backoff {
    /// Waits from about `min` after the first failure up to `max`.
    pub fn new(min: Duration, max: Duration) -> Backoff {
        Backoff {
            min,
            max: max.max(min),
            ceiling: None,
        }
    }

    /// The wait before the next attempt.
    pub fn next_wait(&mut self) -> Duration {
        let ceiling = match self.ceiling {
            None => self.min,
            Some(previous) => previous.saturating_mul(2).min(self.max),
        };
        self.ceiling = Some(ceiling);
        jitter(ceiling, random_fraction())
    }

    /// After a success: the next failure waits `min` again.
    pub fn reset(&mut self) {
        self.ceiling = None;
    }
}

/// A wait in `[ceiling / 2, ceiling]`, placed by `fraction` in `[0, 1)`.
fn jitter(ceiling: Duration, fraction: f64) -> Duration {
    let half = ceiling / 2;
    half + half.mul_f64(fraction.clamp(0.0, 1.0))
}

fn random_fraction() -> f64 {
    // Without randomness the waits are merely not spread: not worth failing.
    let bits = getrandom::u64().unwrap_or(0);
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_the_maximum_within_jitter() {
        let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(5));
        let ceilings = [1, 2, 4, 5, 5];
        for ceiling in ceilings {
            let wait = backoff.next_wait();
            let ceiling = Duration::from_secs(ceiling);
            assert!(
                wait >= ceiling / 2 && wait <= ceiling,
                "{wait:?} vs {ceiling:?}"
            );
        }
        backoff.reset();
        assert!(backoff.next_wait() <= Duration::from_secs(1));
    }

    #[test]
    fn jitter_spans_the_upper_half() {
        let ceiling = Duration::from_secs(8);
        assert_eq!(jitter(ceiling, 0.0), Duration::from_secs(4));
        assert_eq!(jitter(ceiling, 0.5), Duration::from_secs(6));
        assert_eq!(jitter(ceiling, 2.0), ceiling);
        let fraction = random_fraction();
        assert!((0.0..1.0).contains(&fraction));
    }
}
