//! The field's clock, in seconds from its start: the wall clock on a real site, or virtual time
//! that a batch run sets step by step, so that a day of a street's traffic goes through the real
//! master, lines and broker in minutes. On virtual time a frame takes no time on the wire: the
//! timing of a line is the bench's to measure (`benches/rs485_200_nodes.rs`), not a run's.

use std::time::Duration;

use tokio::sync::watch;

#[derive(Clone, Debug)]
pub enum Clock {
    Wall(tokio::time::Instant),
    Virtual(watch::Receiver<f64>),
}

/// Sets a virtual clock: time moves only when its owner says.
pub struct VirtualTime(watch::Sender<f64>);

impl VirtualTime {
    /// Virtual time at zero, and the clock that reads it.
    pub fn new() -> (VirtualTime, Clock) {
        let (tx, rx) = watch::channel(0.0);
        (VirtualTime(tx), Clock::Virtual(rx))
    }

    /// Time moves on to `t` (never back).
    pub fn set(&self, t: f64) {
        self.0.send_if_modified(|now| {
            let later = t > *now;
            if later {
                *now = t;
            }
            later
        });
    }
}

impl Clock {
    /// The wall clock, from now.
    pub fn wall() -> Clock {
        Clock::Wall(tokio::time::Instant::now())
    }

    pub fn now(&self) -> f64 {
        match self {
            Clock::Wall(start) => start.elapsed().as_secs_f64(),
            Clock::Virtual(rx) => *rx.borrow(),
        }
    }

    pub fn is_virtual(&self) -> bool {
        matches!(self, Clock::Virtual(_))
    }

    /// Wait until the clock reads `t` or later; on virtual time, forever once its owner is gone.
    pub async fn until(&mut self, t: f64) {
        match self {
            Clock::Wall(start) => {
                tokio::time::sleep_until(*start + Duration::from_secs_f64(t.max(0.0))).await;
            }
            Clock::Virtual(rx) => {
                if rx.wait_for(|now| *now >= t).await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        }
    }

    /// A wire's or a device's time: real on the wall clock, none on virtual time.
    pub async fn spend(&self, d: Duration) {
        if let Clock::Wall(_) = self {
            tokio::time::sleep(d).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn virtual_time_moves_only_when_set_and_wakes_its_waiters() {
        let (vt, clock) = VirtualTime::new();
        let mut c = clock.clone();
        let waiter = tokio::spawn(async move {
            c.until(5.0).await;
            c.now()
        });
        vt.set(4.0);
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        vt.set(3.0);
        assert_eq!(clock.now(), 4.0);
        vt.set(6.0);
        assert_eq!(waiter.await.unwrap(), 6.0);
    }
}
