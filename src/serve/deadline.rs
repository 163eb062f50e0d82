//! The request deadline: a request that takes longer than the request timeout, body
//! reading included, gets a 408. The timer is armed only for a request that still waits
//! once it has been polled twice: a request whose small body came with its headers (a
//! resolve by OFREP, most renders) never registers one. Arming a timer for every request
//! cost a tenth of an OFREP evaluation.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::{Instant, Sleep};

pin_project_lite::pin_project! {
    /// `inner`, or `Err(TimedOut)` once `limit` has passed since it was first polled.
    pub(super) struct Deadline<F> {
        #[pin]
        inner: F,
        limit: Duration,
        started: Option<Instant>,
        #[pin]
        timer: Option<Sleep>,
    }
}

/// The deadline passed.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct TimedOut;

/// Runs `inner` within `limit`.
pub(super) fn within<F: Future>(limit: Duration, inner: F) -> Deadline<F> {
    Deadline {
        inner,
        limit,
        started: None,
        timer: None,
    }
}

impl<F: Future> Future for Deadline<F> {
    type Output = Result<F::Output, TimedOut>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if let Poll::Ready(output) = this.inner.poll(cx) {
            return Poll::Ready(Ok(output));
        }
        let Some(started) = *this.started else {
            // The first wait is hyper handing over a body it already holds: asked for
            // again at once, it is usually there.
            *this.started = Some(Instant::now());
            cx.waker().wake_by_ref();
            return Poll::Pending;
        };
        if this.timer.is_none() {
            this.timer
                .set(Some(tokio::time::sleep_until(started + *this.limit)));
        }
        match this.timer.as_pin_mut().map(|timer| timer.poll(cx)) {
            Some(Poll::Ready(())) => Poll::Ready(Err(TimedOut)),
            _ => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_ready_answer_passes_and_a_stalled_one_times_out_at_the_limit() {
        assert_eq!(within(Duration::from_secs(1), async { 7 }).await, Ok(7));
        let start = Instant::now();
        let stalled = within(Duration::from_secs(2), std::future::pending::<()>()).await;
        assert_eq!(stalled, Err(TimedOut));
        assert_eq!(start.elapsed(), Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_answer_within_the_limit_is_kept() {
        let slow = async {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            "late"
        };
        assert_eq!(within(Duration::from_secs(2), slow).await, Ok("late"));
        let too_slow = async {
            tokio::time::sleep(Duration::from_millis(2500)).await;
        };
        assert_eq!(
            within(Duration::from_secs(2), too_slow).await,
            Err(TimedOut)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_answer_ready_on_the_second_poll_arms_no_timer() {
        let mut polls = 0;
        let second = std::future::poll_fn(|cx| {
            polls += 1;
            if polls == 2 {
                return Poll::Ready(polls);
            }
            // Nothing wakes it: only the deadline's own wake gives it a second poll.
            let _ = cx;
            Poll::Pending
        });
        let mut deadline = std::pin::pin!(within(Duration::from_secs(1), second));
        let answer = std::future::poll_fn(|cx| match deadline.as_mut().poll(cx) {
            Poll::Ready(answer) => Poll::Ready((answer, deadline.timer.is_some())),
            Poll::Pending => Poll::Pending,
        })
        .await;
        assert_eq!(answer, (Ok(2), false));
    }
}
