//! `Heartbeat`: the member's liveness timers (Java's `Heartbeat`), with no
//! clock of its own.
//!
//! Three timers run side by side:
//! - the heartbeat timer: when the next Heartbeat is due (the interval after
//!   one was sent, the retry backoff after one failed);
//! - the session timer: reset by every successful heartbeat; when it runs out
//!   the coordinator is presumed gone (the broker will have expired us too);
//! - the poll timer (KIP-62): reset by every consumer poll; when
//!   `max.poll.interval.ms` passes without one the member leaves the group.

use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub(crate) struct Heartbeat {
    session_timeout: Duration,
    heartbeat_interval: Duration,
    max_poll_interval: Duration,
    retry_backoff: Duration,
    next_heartbeat: Instant,
    session_deadline: Instant,
    last_poll: Instant,
    pub(crate) in_flight: bool,
    pub(crate) stats: crate::metrics::HeartbeatStats,
}

impl Heartbeat {
    pub(crate) fn new(
        session_timeout: Duration,
        heartbeat_interval: Duration,
        max_poll_interval: Duration,
        retry_backoff: Duration,
        now: Instant,
    ) -> Self {
        Heartbeat {
            session_timeout,
            heartbeat_interval,
            max_poll_interval,
            retry_backoff,
            next_heartbeat: now + heartbeat_interval,
            session_deadline: now + session_timeout,
            last_poll: now,
            in_flight: false,
            stats: crate::metrics::HeartbeatStats::new(now),
        }
    }

    /// A Heartbeat request went out.
    pub(crate) fn sent(&mut self, now: Instant) {
        self.in_flight = true;
        self.next_heartbeat = now + self.heartbeat_interval;
        self.stats.sent(now);
    }

    /// A Heartbeat failed (network or coordinator error): retry after the backoff.
    pub(crate) fn failed(&mut self, now: Instant) {
        self.in_flight = false;
        self.next_heartbeat = now + self.retry_backoff;
    }

    /// A Heartbeat was answered: the session is alive.
    pub(crate) fn received(&mut self, now: Instant) {
        self.in_flight = false;
        self.session_deadline = now + self.session_timeout;
        self.stats.received(now);
    }

    /// A coordinator was found: its session starts now (Java does the same,
    /// else a session expired before the rediscovery would expire it again).
    pub(crate) fn reset_session(&mut self, now: Instant) {
        self.session_deadline = now + self.session_timeout;
    }

    /// A (re)join completed: all timers start over.
    pub(crate) fn reset_timeouts(&mut self, now: Instant) {
        self.session_deadline = now + self.session_timeout;
        self.next_heartbeat = now + self.heartbeat_interval;
        self.in_flight = false;
    }

    /// The consumer polled.
    pub(crate) fn poll(&mut self, now: Instant) {
        self.last_poll = now;
    }

    pub(crate) fn should_heartbeat(&self, now: Instant) -> bool {
        !self.in_flight && now >= self.next_heartbeat
    }

    pub(crate) fn session_expired(&self, now: Instant) -> bool {
        now >= self.session_deadline
    }

    pub(crate) fn poll_deadline(&self) -> Instant {
        self.last_poll + self.max_poll_interval
    }

    pub(crate) fn poll_timeout_expired(&self, now: Instant) -> bool {
        now >= self.poll_deadline()
    }

    /// When something is next due: a heartbeat (unless one is in flight), or
    /// the session running out.
    pub(crate) fn next_deadline(&self) -> Instant {
        if self.in_flight {
            self.session_deadline
        } else {
            self.next_heartbeat.min(self.session_deadline)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timers_follow_sends_receipts_and_failures() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut hb = Heartbeat::new(ms(10_000), ms(3_000), ms(300_000), ms(100), t0);
        assert!(!hb.should_heartbeat(t0));
        assert!(hb.should_heartbeat(t0 + ms(3_000)));
        hb.sent(t0 + ms(3_000));
        assert!(
            !hb.should_heartbeat(t0 + ms(7_000)),
            "one in flight at a time"
        );
        hb.failed(t0 + ms(4_000));
        assert!(
            hb.should_heartbeat(t0 + ms(4_100)),
            "retry after the backoff"
        );
        assert!(hb.session_expired(t0 + ms(10_000)));
        hb.received(t0 + ms(4_200));
        assert!(!hb.session_expired(t0 + ms(14_000)));
        assert!(hb.session_expired(t0 + ms(14_200)));
        assert!(!hb.poll_timeout_expired(t0 + ms(299_999)));
        hb.poll(t0 + ms(100_000));
        assert!(!hb.poll_timeout_expired(t0 + ms(300_000)));
        assert!(hb.poll_timeout_expired(t0 + ms(400_000)));
    }
}
