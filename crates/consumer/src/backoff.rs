//! Exponential backoff with jitter for transient faults (docs/architecture.md, "Processing rules"):
//! the n-th retry of a delivery waits min(base·2ⁿ, max) ± 20%, through the delay queue of level n;
//! after the last retry the message is dead-lettered.

use std::time::Duration;

/// The most retries a delivery may be given: one delay queue per retry.
pub const MAX_RETRY_ATTEMPTS: u32 = bgjobs_messaging::amqp::MAX_DELAY_LEVELS;
/// The spread of the jitter: a delay is scaled by a factor in 1 ± JITTER.
const JITTER: f64 = 0.2;

/// How a transient fault is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries before giving up (`BGJOBS_RETRY_ATTEMPTS`, 0 to [`MAX_RETRY_ATTEMPTS`]).
    pub attempts: u32,
    /// The first retry's delay (`BGJOBS_RETRY_BASE_MS`).
    pub base: Duration,
    /// The longest delay (`BGJOBS_RETRY_MAX_MS`).
    pub max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self { attempts: 5, base: Duration::from_millis(1_000), max: Duration::from_millis(60_000) }
    }
}

/// What to do after a transient fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backoff {
    /// Try again after `delay`, through the delay queue of `level` (0 for the first retry).
    RetryIn {
        /// The delay queue level: how many retries came before this one.
        level: u32,
        /// How long to wait, jitter included.
        delay: Duration,
    },
    /// Every retry has been used: dead-letter the message.
    GiveUp,
}

impl RetryPolicy {
    /// The backoff after a fault of a delivery that was already retried
    /// `retries_so_far` times; `random` (0 to 1) picks the jitter.
    pub fn after(&self, retries_so_far: u32, random: f64) -> Backoff {
        if retries_so_far >= self.attempts {
            return Backoff::GiveUp;
        }
        let doubled =
            self.base.saturating_mul(1u32.checked_shl(retries_so_far).unwrap_or(u32::MAX));
        let capped = doubled.min(self.max);
        let factor = 1.0 - JITTER + 2.0 * JITTER * random.clamp(0.0, 1.0);
        Backoff::RetryIn { level: retries_so_far, delay: capped.mul_f64(factor) }
    }

    /// The log line of a fault: "transient fault: <cause>; retry 2 of 5 in 4.1 s", or
    /// "...; giving up after 5 retries".
    pub fn describe(&self, cause: &str, backoff: Backoff) -> String {
        match backoff {
            Backoff::RetryIn { level, delay } => format!(
                "transient fault: {cause}; retry {} of {} in {}",
                level + 1,
                self.attempts,
                seconds(delay)
            ),
            Backoff::GiveUp => {
                format!("transient fault: {cause}; giving up after {} retries", self.attempts)
            }
        }
    }
}

/// "0.8 s" under ten seconds, "34 s" above.
fn seconds(delay: Duration) -> String {
    let secs = delay.as_secs_f64();
    if secs < 10.0 { format!("{secs:.1} s") } else { format!("{secs:.0} s") }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: RetryPolicy = RetryPolicy {
        attempts: 5,
        base: Duration::from_millis(1_000),
        max: Duration::from_millis(10_000),
    };

    #[test]
    fn delays_double_from_the_base_up_to_the_max() {
        let delays: Vec<Duration> = (0..5)
            .map(|retries| match POLICY.after(retries, 0.5) {
                Backoff::RetryIn { level, delay } => {
                    assert_eq!(level, retries);
                    delay
                }
                Backoff::GiveUp => panic!("retry {retries} is allowed"),
            })
            .collect();
        let secs = |s| Duration::from_secs(s);
        assert_eq!(delays, vec![secs(1), secs(2), secs(4), secs(8), secs(10)]);
        assert_eq!(POLICY.after(5, 0.5), Backoff::GiveUp);
    }

    #[test]
    fn jitter_spreads_a_delay_by_a_fifth_either_way() {
        let delay = |random| match POLICY.after(2, random) {
            Backoff::RetryIn { delay, .. } => delay,
            Backoff::GiveUp => panic!("allowed"),
        };
        assert_eq!(delay(0.0), Duration::from_millis(3_200));
        assert_eq!(delay(1.0), Duration::from_millis(4_800));
        assert_eq!(delay(7.0), Duration::from_millis(4_800), "random is clamped");
    }

    #[test]
    fn no_retries_means_giving_up_at_once_and_huge_levels_do_not_overflow() {
        let never = RetryPolicy { attempts: 0, ..POLICY };
        assert_eq!(never.after(0, 0.5), Backoff::GiveUp);
        let many = RetryPolicy { attempts: u32::MAX, ..POLICY };
        assert_eq!(many.after(40, 0.5), Backoff::RetryIn { level: 40, delay: POLICY.max });
    }

    #[test]
    fn the_log_line_says_which_retry_and_when() {
        let retry = Backoff::RetryIn { level: 1, delay: Duration::from_millis(4_120) };
        assert_eq!(
            POLICY.describe("S3 unreachable", retry),
            "transient fault: S3 unreachable; retry 2 of 5 in 4.1 s"
        );
        let later = Backoff::RetryIn { level: 4, delay: Duration::from_millis(34_400) };
        assert!(POLICY.describe("x", later).ends_with("retry 5 of 5 in 34 s"));
        assert_eq!(
            POLICY.describe("S3 unreachable", Backoff::GiveUp),
            "transient fault: S3 unreachable; giving up after 5 retries"
        );
    }
}
