//! When and how long to wait before sending a failed model call again.
//!
//! A call is retried only when the error says trying again can help
//! ([`ProviderError::is_retryable`]) and only while nothing has been passed to the
//! caller yet: once a delta is out, a retry would show the user the same text twice.

use std::time::Duration;

use rand::Rng;

use super::{ProviderError, StreamDelta};

/// The retry schedule of one provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt; 0 disables retrying.
    pub max_retries: u32,
    /// The backoff ceiling of the first retry; it doubles each retry.
    pub base_delay: Duration,
    /// The backoff ceiling never grows past this.
    pub max_delay: Duration,
    /// The longest `Retry-After` herald will sit out. A server asking for longer (a
    /// daily quota, say) is answered at once with its error, which names the wait,
    /// instead of holding the conversation for an hour.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 3,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    pub fn with_max_retries(self, max_retries: u32) -> Self {
        RetryPolicy { max_retries, ..self }
    }

    /// The longest wait before retry number `retry` (0-based): `base * 2^retry`,
    /// capped at `max_delay`.
    pub fn backoff_ceiling(&self, retry: u32) -> Duration {
        let factor = 2u32.saturating_pow(retry.min(31));
        self.base_delay.saturating_mul(factor).min(self.max_delay)
    }

    /// A wait drawn uniformly from `[0, ceiling]` ("full jitter"), so clients that
    /// failed together do not retry together.
    pub fn backoff(&self, retry: u32, rng: &mut impl Rng) -> Duration {
        let ceiling = self.backoff_ceiling(retry);
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(rng.random_range(0..=nanos))
    }

    /// What to do after attempt number `retries_done + 1` failed with `error`:
    /// `Ok(wait)` to try again after `wait`, or `Err` with the error to return.
    /// When retrying was allowed but every attempt failed the last error comes back
    /// wrapped in [`ProviderError::RetriesExhausted`].
    pub fn decide(
        &self,
        error: ProviderError,
        retries_done: u32,
        emitted: bool,
        rng: &mut impl Rng,
    ) -> Result<Duration, ProviderError> {
        if !error.is_retryable() || emitted {
            return Err(error);
        }
        if retries_done >= self.max_retries {
            if retries_done == 0 {
                return Err(error);
            }
            return Err(ProviderError::RetriesExhausted { attempts: retries_done + 1, last: Box::new(error) });
        }
        let backoff = self.backoff(retries_done, rng);
        match error.retry_after() {
            Some(wait) if wait > self.max_retry_after => Err(error),
            // `Retry-After` is the least wait the server accepts; the backoff still
            // applies, so `Retry-After: 0` cannot make us hammer it.
            Some(wait) => Ok(wait.max(backoff)),
            None => Ok(backoff),
        }
    }
}

/// The retry loop's bookkeeping for one call:
///
/// ```text
/// let mut retrier = Retrier::new(PROVIDER, &policy);
/// loop {
///     let result = attempt(&mut retrier.forward(on_delta)).await;
///     match result {
///         Ok(completion) => return Ok(completion),
///         Err(error) => retrier.wait_or_fail(error).await?,
///     }
/// }
/// ```
///
/// (A generic helper taking the attempt as an async closure would be tidier, but the
/// `Send` bound `async_trait` needs cannot yet be stated for such closures.)
#[derive(Debug)]
pub(crate) struct Retrier<'a> {
    provider: &'static str,
    policy: &'a RetryPolicy,
    retries_done: u32,
    emitted: bool,
}

impl<'a> Retrier<'a> {
    pub fn new(provider: &'static str, policy: &'a RetryPolicy) -> Self {
        Retrier { provider, policy, retries_done: 0, emitted: false }
    }

    /// A delta sink for one attempt: forwards to `on_delta` and notes that something
    /// went out, which rules out any further retry.
    pub fn forward<'s>(
        &'s mut self,
        on_delta: &'s mut (dyn FnMut(StreamDelta) + Send),
    ) -> impl FnMut(StreamDelta) + Send + 's {
        let emitted = &mut self.emitted;
        move |delta| {
            *emitted = true;
            on_delta(delta);
        }
    }

    /// After a failed attempt: sleeps until the next one may start, or returns the
    /// error to give up with.
    pub async fn wait_or_fail(&mut self, error: ProviderError) -> Result<(), ProviderError> {
        // The thread RNG is not `Send`; it must not live across the sleep below.
        let wait = self.policy.decide(error.clone(), self.retries_done, self.emitted, &mut rand::rng())?;
        tracing::warn!(
            provider = self.provider,
            attempt = self.retries_done + 1,
            wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
            %error,
            "model call failed; retrying"
        );
        tokio::time::sleep(wait).await;
        self.retries_done += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn server(retry_after: Option<Duration>) -> ProviderError {
        ProviderError::Server { provider: "openai", status: 503, retry_after, message: "busy".into() }
    }

    fn rejected() -> ProviderError {
        ProviderError::Rejected { provider: "openai", status: 400, message: "bad".into() }
    }

    #[test]
    fn backoff_ceiling_doubles_and_caps() {
        let p = RetryPolicy::default();
        let ceilings: Vec<_> = (0..8).map(|r| p.backoff_ceiling(r).as_millis()).collect();
        assert_eq!(ceilings, [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000]);
        assert_eq!(p.backoff_ceiling(u32::MAX), Duration::from_secs(30));
    }

    #[test]
    fn backoff_stays_within_bounds_and_spreads() {
        let p = RetryPolicy::default();
        let mut rng = StdRng::seed_from_u64(7);
        for retry in 0..10 {
            let draws: Vec<_> = (0..200).map(|_| p.backoff(retry, &mut rng)).collect();
            assert!(draws.iter().all(|d| *d <= p.backoff_ceiling(retry)));
            // Full jitter: both halves of the range are used.
            let half = p.backoff_ceiling(retry) / 2;
            assert!(draws.iter().any(|d| *d < half) && draws.iter().any(|d| *d > half), "retry {retry}");
        }
    }

    #[test]
    fn retry_after_is_honoured_up_to_the_cap() {
        let p = RetryPolicy::default();
        let mut rng = StdRng::seed_from_u64(1);
        assert_eq!(p.decide(server(Some(Duration::from_secs(5))), 0, false, &mut rng).unwrap(), Duration::from_secs(5));
        let zero = p.decide(server(Some(Duration::ZERO)), 2, false, &mut rng);
        assert!(zero.unwrap() <= p.backoff_ceiling(2));
        let long = p.decide(server(Some(Duration::from_secs(3600))), 0, false, &mut rng).unwrap_err();
        assert_eq!(long.retry_after(), Some(Duration::from_secs(3600)));
    }

    #[test]
    fn only_retryable_errors_before_any_delta() {
        let p = RetryPolicy::default();
        let mut rng = StdRng::seed_from_u64(1);
        assert!(p.decide(server(None), 0, false, &mut rng).is_ok());
        assert!(matches!(p.decide(rejected(), 0, false, &mut rng), Err(ProviderError::Rejected { .. })));
        assert!(matches!(p.decide(server(None), 0, true, &mut rng), Err(ProviderError::Server { .. })));
    }

    #[test]
    fn exhaustion_wraps_the_last_error() {
        let p = RetryPolicy::default();
        let mut rng = StdRng::seed_from_u64(1);
        match p.decide(server(None), 3, false, &mut rng) {
            Err(ProviderError::RetriesExhausted { attempts: 4, last }) => {
                assert!(matches!(*last, ProviderError::Server { .. }))
            }
            other => panic!("{other:?}"),
        }
        // With retrying off there is nothing to exhaust: the error comes back as is.
        let off = p.with_max_retries(0);
        assert!(matches!(off.decide(server(None), 0, false, &mut rng), Err(ProviderError::Server { .. })));
    }
}
