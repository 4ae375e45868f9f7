//! How long to wait before trying a failed send again: exponential, capped,
//! with jitter so that notifiers recovering from the same outage do not
//! all call the provider in the same second.

use std::time::Duration;

use rand::Rng;

#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

impl Backoff {
    /// The ceiling after `failures` failed attempts (1 for the first).
    pub fn ceiling(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(30);
        self.initial.saturating_mul(1 << doublings).min(self.max)
    }

    /// A wait between half the ceiling and the ceiling ("equal jitter"):
    /// spread out, yet never much shorter than the schedule promises.
    pub fn delay(&self, failures: u32) -> Duration {
        let ceiling = self.ceiling(failures);
        let half = ceiling / 2;
        let spread = (ceiling - half).as_millis() as u64;
        half + Duration::from_millis(rand::thread_rng().gen_range(0..=spread))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BACKOFF: Backoff = Backoff {
        initial: Duration::from_secs(1),
        max: Duration::from_secs(60),
    };

    #[test]
    fn waits_double_until_the_cap() {
        let ceilings: Vec<u64> = (1..=8).map(|n| BACKOFF.ceiling(n).as_secs()).collect();
        assert_eq!(ceilings, [1, 2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(BACKOFF.ceiling(1000), Duration::from_secs(60));
    }

    #[test]
    fn jitter_stays_between_half_and_the_ceiling_and_varies() {
        let delays: Vec<Duration> = (0..200).map(|_| BACKOFF.delay(4)).collect();
        assert!(
            delays
                .iter()
                .all(|d| *d >= Duration::from_secs(4) && *d <= Duration::from_secs(8))
        );
        let first = delays[0];
        assert!(delays.iter().any(|d| *d != first), "no jitter");
    }
}
