//! A budget of log lines per second for events a client can cause at will
//! (rejected logins, failed hook calls): beyond it lines are left out and
//! counted, and the next line logged says how many were, so no client can
//! flood the log while every event still shows in `/metrics`.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// At most `per_second` lines a second.
pub(crate) struct LogBudget {
    per_second: u32,
    /// (start of the current second, lines logged in it, lines left out)
    window: Mutex<Option<(Instant, u32, u64)>>,
}

impl LogBudget {
    pub(crate) const fn new(per_second: u32) -> Self {
        Self {
            per_second,
            window: Mutex::new(None),
        }
    }

    /// `Some(left out since the last line logged)` when a line may be
    /// logged now, `None` when it is to be left out.
    pub(crate) fn take(&self) -> Option<u64> {
        let mut window = self.window.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let (start, logged, left_out) = window.get_or_insert((now, 0, 0));
        if now.duration_since(*start) >= Duration::from_secs(1) {
            (*start, *logged) = (now, 0);
        }
        if *logged >= self.per_second {
            *left_out += 1;
            return None;
        }
        *logged += 1;
        Some(std::mem::take(left_out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_beyond_the_budget_are_counted_in_the_next_one() {
        let budget = LogBudget::new(2);
        assert_eq!(budget.take(), Some(0));
        assert_eq!(budget.take(), Some(0));
        assert_eq!(budget.take(), None);
        assert_eq!(budget.take(), None);
        *budget.window.lock().unwrap() = Some((Instant::now() - Duration::from_secs(2), 2, 2));
        assert_eq!(budget.take(), Some(2));
    }
}
