//! Room message delivery: the state's message feed, delivered to this
//! instance's sockets one message at a time, so every member receives a
//! room's messages in id order whichever instance or concurrent command
//! appended them.
//!
//! protocol.md 7.2 wants `roomMessage` out before the sender's ack, so
//! `roomMessage` waits (`Deliveries::wait`) until the delivery task has
//! sent its id on, or a later one of the same room.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use dashmap::DashMap;
use futures::StreamExt;
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::notify::Notify;
use crate::state::{MessageFeed, Published};

/// How long a command waits for its message to go out before acking
/// anyway: only reached when the feed lost the message (a Redis outage or
/// a reader that fell behind), and then the ack must still come.
const WAIT_LIMIT: Duration = Duration::from_secs(2);

/// A room's mark is forgotten after this long without deliveries or
/// waits, so rooms that come and go do not pile up marks. Far beyond any
/// command's time between its append and its wait.
const MARK_IDLE: Duration = Duration::from_secs(60);

/// What the delivery task has sent on, per room.
#[derive(Default)]
pub struct Deliveries {
    /// Deliveries so far, to tell deliveries after a point in time.
    count: AtomicU64,
    rooms: DashMap<String, Mark>,
}

#[derive(Default)]
struct Mark {
    /// The last delivered id of the room and when (`count` then).
    id: u64,
    at: u64,
    waiting: Vec<(u64, oneshot::Sender<()>)>,
    /// Last delivery or wait, for forgetting idle marks.
    used: Option<Instant>,
}

/// A point in the delivery sequence, taken before appending a message.
#[derive(Debug, Clone, Copy)]
pub struct Since(u64);

impl Deliveries {
    pub fn now(&self) -> Since {
        Since(self.count.load(Ordering::Acquire))
    }

    /// Waits until `id` of `room` (appended after `since`) has been
    /// delivered here, at most `WAIT_LIMIT`.
    pub async fn wait(&self, room: &str, id: u64, since: Since) {
        let (done, delivered) = oneshot::channel();
        {
            let mut mark = self.rooms.entry(room.to_string()).or_default();
            // A room's ids reach the feed in order, so a later delivery
            // of `id` or above means `id` went out. (`at` tells a
            // delivery of this room from one before a re-creation.)
            if mark.at > since.0 && mark.id >= id {
                return;
            }
            mark.used = Some(Instant::now());
            mark.waiting.push((id, done));
        }
        if tokio::time::timeout(WAIT_LIMIT, delivered).await.is_err() {
            tracing::warn!(%room, id, "room message not delivered in time; acked anyway");
        }
    }

    /// Forgets the marks of rooms idle for `MARK_IDLE`, and waits whose
    /// command gave up.
    fn forget_idle(&self) {
        self.rooms.retain(|_, mark| {
            mark.waiting.retain(|(_, done)| !done.is_closed());
            !mark.waiting.is_empty() || mark.used.is_some_and(|used| used.elapsed() < MARK_IDLE)
        });
    }

    fn delivered(&self, room: &str, id: u64) {
        let at = self.count.fetch_add(1, Ordering::AcqRel) + 1;
        let mut mark = match self.rooms.get_mut(room) {
            Some(mark) => mark,
            None => self.rooms.entry(room.to_string()).or_default(),
        };
        mark.id = id;
        mark.at = at;
        mark.used = Some(Instant::now());
        if !mark.waiting.is_empty() {
            let out =
                |(wanted, done): &mut (u64, oneshot::Sender<()>)| *wanted <= id || done.is_closed();
            for (_, done) in mark.waiting.extract_if(.., out) {
                let _ = done.send(());
            }
        }
    }
}

/// Delivers the feed until it ends (the state closed) or the service is
/// dropped.
pub(crate) async fn run(
    notify: Arc<dyn Notify>,
    deliveries: std::sync::Weak<Deliveries>,
    mut feed: MessageFeed,
) {
    let mut forget = tokio::time::interval(MARK_IDLE);
    loop {
        tokio::select! {
            published = feed.next() => {
                let Some(Published { room, message }) = published else { return };
                notify.deliver_room_message(&room, &message).await;
                let Some(deliveries) = deliveries.upgrade() else { return };
                deliveries.delivered(&room, message.id());
            }
            _ = forget.tick() => {
                let Some(deliveries) = deliveries.upgrade() else { return };
                deliveries.forget_idle();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn done_soon(deliveries: &Deliveries, room: &str, id: u64, since: Since) -> bool {
        tokio::time::timeout(Duration::from_millis(100), deliveries.wait(room, id, since))
            .await
            .is_ok()
    }

    #[tokio::test]
    async fn a_wait_ends_once_its_id_or_a_later_one_is_delivered() {
        let deliveries = std::sync::Arc::new(Deliveries::default());
        let since = deliveries.now();
        let waiting = {
            let deliveries = deliveries.clone();
            tokio::spawn(async move { deliveries.wait("r", 2, since).await })
        };
        tokio::task::yield_now().await;
        deliveries.delivered("r", 1);
        deliveries.delivered("other", 7);
        tokio::task::yield_now().await;
        assert!(
            !waiting.is_finished(),
            "id 1 and another room do not end it"
        );
        deliveries.delivered("r", 3);
        assert!(
            tokio::time::timeout(Duration::from_secs(1), waiting)
                .await
                .is_ok()
        );
        // Delivered after `since` already: no wait at all.
        assert!(done_soon(&deliveries, "r", 3, since).await);
    }

    #[tokio::test]
    async fn a_delivery_from_before_the_append_does_not_count() {
        let deliveries = Deliveries::default();
        // The room's last delivery (id 50) predates the append, e.g. of a
        // room deleted and created again since: the new id 1 must wait.
        deliveries.delivered("r", 50);
        let since = deliveries.now();
        assert!(!done_soon(&deliveries, "r", 1, since).await);
    }

    #[tokio::test(start_paused = true)]
    async fn idle_marks_are_forgotten_busy_ones_kept() {
        let deliveries = std::sync::Arc::new(Deliveries::default());
        deliveries.delivered("old", 1);
        tokio::time::advance(MARK_IDLE + Duration::from_secs(1)).await;
        deliveries.delivered("recent", 1);
        let since = deliveries.now();
        let waiting = {
            let deliveries = deliveries.clone();
            tokio::spawn(async move { deliveries.wait("awaited", 1, since).await })
        };
        tokio::task::yield_now().await;
        deliveries.forget_idle();
        let mut kept: Vec<String> = deliveries.rooms.iter().map(|e| e.key().clone()).collect();
        kept.sort();
        assert_eq!(kept, ["awaited", "recent"]);
        deliveries.delivered("awaited", 1);
        assert!(waiting.await.is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn a_lost_message_is_acked_after_the_limit() {
        let deliveries = Deliveries::default();
        let started = tokio::time::Instant::now();
        deliveries.wait("r", 1, deliveries.now()).await;
        assert!(started.elapsed() >= WAIT_LIMIT);
    }
}
