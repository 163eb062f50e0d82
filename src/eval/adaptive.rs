//! How many requests a provider gets at once during an eval, found as the run goes rather
//! than guessed: a slow start (doubling each round trip) from [`START`], then additive
//! increase (one more each round trip), and a multiplicative decrease when a round trip's
//! answers say the provider is past its capacity: halved when more than [`THROTTLED_SHARE`]
//! of them are 429s, 5xx or timeouts, trimmed by a tenth when their median latency is more
//! than [`SLOWER`] times the best seen. `--concurrency` (and a provider's `concurrency`) is
//! the ceiling it never passes.
//!
//! A round trip is judged once as many answers as the limit allows have come back. A few
//! throttled answers in a round trip (a provider that sheds a share of requests whatever the
//! load) do not lower the limit: they are retried with backoff, and lowering the limit for
//! them would only slow the run (at 10% random 429s, a limit halved on every one settles near
//! 4 in flight).

use std::sync::Mutex;
use std::time::Duration;

/// Requests in flight before the first round trip is judged, when no level was given.
pub const START: usize = 16;

/// The ceiling when none is given (`--concurrency`).
pub const DEFAULT_CEILING: usize = 64;

/// How many requests a run may have in flight: a ceiling over all providers, and where each
/// provider's adaptive limit starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Concurrency {
    pub ceiling: usize,
    pub start: usize,
}

impl Concurrency {
    /// The level found as the run goes: from [`START`] up to `ceiling`.
    pub fn adaptive(ceiling: usize) -> Self {
        let ceiling = ceiling.max(1);
        Concurrency {
            ceiling,
            start: START.min(ceiling),
        }
    }

    /// `--concurrency N` given: N is the ceiling, and the run starts there (whoever gives it
    /// knows the provider takes it); throttling still lowers it. None given: adaptive up to
    /// [`DEFAULT_CEILING`].
    pub fn from_flag(given: Option<u16>) -> Self {
        match given {
            Some(n) => {
                let n = usize::from(n).max(1);
                Concurrency {
                    ceiling: n,
                    start: n,
                }
            }
            None => Concurrency::adaptive(DEFAULT_CEILING),
        }
    }
}
/// Above this share of throttled answers (429, 5xx, timeouts) in a round trip, the limit
/// halves.
pub const THROTTLED_SHARE: f64 = 0.3;
/// A round trip whose median latency is this many times the best median seen trims the limit.
pub const SLOWER: f64 = 2.0;
/// The fewest answers a round trip is judged on.
const MIN_ROUND: usize = 4;

/// How an answer went, as the limit reads it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Signal {
    /// An answer, and how long it took.
    Answered(Duration),
    /// A 429, a 5xx, a 408 or a timeout: the provider may be past its capacity.
    Throttled,
    /// Anything else (a refused request, a failure of ours): says nothing of capacity.
    Neutral,
}

/// An adaptive limit on requests in flight.
#[derive(Debug)]
pub struct AdaptiveLimit {
    ceiling: usize,
    state: Mutex<State>,
    /// Wakes one waiting request per slot that frees, not every waiter: 336 requests
    /// waiting on 64 slots were each woken by every answer, some 60,000 wake-ups a run.
    freed: tokio::sync::Notify,
    /// How many times a request looked for a slot, for the tests.
    #[cfg(test)]
    looks: std::sync::atomic::AtomicUsize,
}

#[derive(Debug)]
struct State {
    limit: f64,
    in_flight: usize,
    slow_start: bool,
    round: Round,
    /// The lowest median latency of a round trip so far, in seconds.
    best_latency: Option<f64>,
    /// The highest limit reached, for the report.
    peak: usize,
}

#[derive(Debug, Default)]
struct Round {
    answers: usize,
    throttled: usize,
    latencies: Vec<f64>,
}

/// A slot for one request; give it back with [`Permit::done`] (dropping it gives it back
/// saying nothing).
pub struct Permit<'a> {
    limit: &'a AdaptiveLimit,
    signal: Signal,
}

impl Permit<'_> {
    /// Gives the slot back with how the request went.
    pub fn done(mut self, signal: Signal) {
        self.signal = signal;
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        self.limit.release(self.signal);
    }
}

impl AdaptiveLimit {
    /// A limit that finds its level between 1 and `ceiling`, starting at `start`.
    pub fn new(ceiling: usize, start: usize) -> Self {
        let ceiling = ceiling.max(1);
        let start = start.clamp(1, ceiling);
        AdaptiveLimit {
            ceiling,
            state: Mutex::new(State {
                limit: start as f64,
                in_flight: 0,
                slow_start: true,
                round: Round::default(),
                best_latency: None,
                peak: start,
            }),
            freed: tokio::sync::Notify::new(),
            #[cfg(test)]
            looks: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for a slot under the current limit.
    pub async fn acquire(&self) -> Permit<'_> {
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            // Registered before the check, so a slot freed in between is not missed.
            freed.as_mut().enable();
            #[cfg(test)]
            self.looks
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            {
                let mut state = self.lock();
                if state.in_flight < state.limit.floor() as usize {
                    state.in_flight += 1;
                    return Permit {
                        limit: self,
                        signal: Signal::Neutral,
                    };
                }
            }
            freed.await;
        }
    }

    /// The current limit.
    #[cfg(test)]
    pub fn current(&self) -> usize {
        self.lock().limit.floor() as usize
    }

    /// The highest limit reached.
    pub fn peak(&self) -> usize {
        self.lock().peak
    }

    fn release(&self, signal: Signal) {
        let wake = {
            let mut state = self.lock();
            let before = state.limit.floor() as usize;
            state.in_flight = state.in_flight.saturating_sub(1);
            match signal {
                Signal::Answered(latency) => {
                    state.round.answers += 1;
                    state.round.latencies.push(latency.as_secs_f64());
                }
                Signal::Throttled => {
                    state.round.answers += 1;
                    state.round.throttled += 1;
                }
                Signal::Neutral => {}
            }
            if state.round.answers >= (state.limit.floor() as usize).max(MIN_ROUND) {
                state.judge_round(self.ceiling);
            }
            // The slot given back, and those a raised limit added, if the limit has room.
            let after = state.limit.floor() as usize;
            let opened = 1 + after.saturating_sub(before);
            opened.min(after.saturating_sub(state.in_flight))
        };
        // A waiter woken and then dropped passes its wake-up on (tokio's `Notify`), and one
        // that finds its slot taken by a newer request waits again for the next.
        for _ in 0..wake {
            self.freed.notify_one();
        }
    }
}

impl State {
    /// Judges the round trip just completed and sets the next limit.
    fn judge_round(&mut self, ceiling: usize) {
        let round = std::mem::take(&mut self.round);
        let throttled = round.throttled as f64 / round.answers as f64;
        let median = median(round.latencies);
        let slower = match (median, self.best_latency) {
            (Some(now), Some(best)) => now > SLOWER * best,
            _ => false,
        };
        if let Some(now) = median {
            self.best_latency = Some(self.best_latency.map_or(now, |best| best.min(now)));
        }
        if throttled > THROTTLED_SHARE {
            self.limit = (self.limit * 0.5).max(1.0);
            self.slow_start = false;
        } else if slower {
            self.limit = (self.limit * 0.9).max(1.0);
            self.slow_start = false;
        } else if self.slow_start {
            self.limit = (self.limit * 2.0).min(ceiling as f64);
        } else {
            self.limit = (self.limit + 1.0).min(ceiling as f64);
        }
        self.peak = self.peak.max(self.limit.floor() as usize);
    }
}

fn median(mut values: Vec<f64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    Some(values[values.len() / 2])
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAST: Signal = Signal::Answered(Duration::from_millis(50));

    /// Completes one round trip of `limit` requests, each with `signal(i)`.
    fn round(limit: &AdaptiveLimit, signal: impl Fn(usize) -> Signal) {
        let n = limit.current();
        let permits: Vec<Permit<'_>> = (0..n).map(|_| futures_lite_acquire(limit)).collect();
        for (i, permit) in permits.into_iter().enumerate() {
            permit.done(signal(i));
        }
    }

    /// Takes a slot that is free now.
    fn futures_lite_acquire(limit: &AdaptiveLimit) -> Permit<'_> {
        let mut state = limit.lock();
        assert!(state.in_flight < state.limit.floor() as usize);
        state.in_flight += 1;
        Permit {
            limit,
            signal: Signal::Neutral,
        }
    }

    #[test]
    fn it_doubles_to_the_ceiling_and_stays_there() {
        let limit = AdaptiveLimit::new(64, START);
        assert_eq!(limit.current(), 16);
        round(&limit, |_| FAST);
        assert_eq!(limit.current(), 32);
        round(&limit, |_| FAST);
        assert_eq!(limit.current(), 64);
        round(&limit, |_| FAST);
        assert_eq!(limit.current(), 64, "never past the ceiling");
        assert_eq!(AdaptiveLimit::new(3, START).current(), 3);
    }

    #[test]
    fn a_provider_past_its_capacity_halves_it_then_it_grows_by_one() {
        let limit = AdaptiveLimit::new(64, START);
        round(&limit, |_| FAST);
        // Half the answers are 429s: past capacity.
        round(
            &limit,
            |i| if i % 2 == 0 { Signal::Throttled } else { FAST },
        );
        assert_eq!(limit.current(), 16);
        round(&limit, |_| FAST);
        assert_eq!(limit.current(), 17, "additive increase after a decrease");
    }

    #[test]
    fn a_few_throttled_answers_do_not_lower_it() {
        let limit = AdaptiveLimit::new(64, START);
        for _ in 0..4 {
            round(
                &limit,
                |i| if i % 10 == 0 { Signal::Throttled } else { FAST },
            );
        }
        assert_eq!(limit.current(), 64);
    }

    #[test]
    fn rising_latency_trims_it() {
        let limit = AdaptiveLimit::new(64, START);
        round(&limit, |_| FAST);
        assert_eq!(limit.current(), 32);
        round(&limit, |_| Signal::Answered(Duration::from_millis(150)));
        assert_eq!(limit.current(), 28, "32 × 0.9");
        assert_eq!(limit.peak(), 32);
    }

    /// Holds `held` slots of `limit`, queues `waiting` requests behind them that each hold
    /// their slot until the test says, then gives back the held slots; returns the waiters.
    async fn queue(
        limit: &std::sync::Arc<AdaptiveLimit>,
        held: usize,
        waiting: usize,
    ) -> Vec<tokio::sync::oneshot::Sender<()>> {
        let permits: Vec<Permit<'_>> = (0..held).map(|_| futures_lite_acquire(limit)).collect();
        let mut finish = Vec::new();
        for _ in 0..waiting {
            let (done, wait) = tokio::sync::oneshot::channel::<()>();
            finish.push(done);
            let limit = std::sync::Arc::clone(limit);
            tokio::spawn(async move {
                let permit = limit.acquire().await;
                let _ = wait.await;
                permit.done(FAST);
            });
        }
        for _ in 0..3 {
            tokio::task::yield_now().await;
        }
        for permit in permits {
            permit.done(FAST);
        }
        for _ in 0..3 {
            tokio::task::yield_now().await;
        }
        finish
    }

    #[tokio::test]
    async fn a_freed_slot_wakes_one_waiting_request_not_all_of_them() {
        // Seen: every answer woke every waiting request; 336 waiting on 64 slots looked for
        // a slot some 60,000 times in a run of 400 requests.
        let limit = std::sync::Arc::new(AdaptiveLimit::new(1, 1));
        let finish = queue(&limit, 1, 100).await;
        for done in finish {
            let _ = done.send(());
            tokio::task::yield_now().await;
            tokio::task::yield_now().await;
        }
        for _ in 0..5 {
            tokio::task::yield_now().await;
        }
        assert_eq!(limit.lock().in_flight, 0);
        let looks = limit.looks.load(std::sync::atomic::Ordering::Relaxed);
        assert!(looks <= 3 * 100, "{looks} looks for 100 requests");
    }

    #[tokio::test]
    async fn a_raised_limit_starts_as_many_waiting_requests_as_it_adds() {
        // 4 slots given back in one round trip double the limit: 8 start, not 4.
        let limit = std::sync::Arc::new(AdaptiveLimit::new(64, 4));
        let _finish = queue(&limit, 4, 20).await;
        assert_eq!(limit.current(), 8);
        assert_eq!(limit.lock().in_flight, 8);
    }

    #[tokio::test]
    async fn a_waiting_request_starts_when_a_slot_is_freed() {
        let limit = std::sync::Arc::new(AdaptiveLimit::new(1, START));
        let first = limit.acquire().await;
        let waiting = {
            let limit = std::sync::Arc::clone(&limit);
            tokio::spawn(async move {
                limit.acquire().await.done(FAST);
            })
        };
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        first.done(FAST);
        waiting.await.unwrap();
    }
}
