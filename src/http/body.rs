//! Request bodies under limits (interface.md 8): each must arrive within
//! `--http-body-timeout`, and all bodies being received at one time share
//! one memory budget, so that connections sending unfinished bodies can
//! neither stay forever nor make the server hold unbounded memory.
//!
//! A body takes its share of the budget as its data arrives and gives it
//! back when it is dropped (its request was handled). With the budget
//! spent, bodies wait for more: their connections stop being read (TCP
//! pushes back on the senders) until others finish or time out.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use http_body::{Body as HttpBody, Frame, SizeHint};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};
use tokio_util::sync::PollSemaphore;

/// What every request body is held to.
#[derive(Clone)]
pub(crate) struct BodyLimits {
    timeout: Duration,
    budget: Arc<Semaphore>,
    budget_bytes: u32,
}

impl BodyLimits {
    /// Bodies arriving within `timeout`, `budget_bytes` of them at once.
    pub(crate) fn new(timeout: Duration, budget_bytes: usize) -> Self {
        let budget_bytes = u32::try_from(budget_bytes).unwrap_or(u32::MAX).max(1);
        Self {
            timeout,
            budget: Arc::new(Semaphore::new(budget_bytes as usize)),
            budget_bytes,
        }
    }

    /// The request with its body under the limits.
    pub(crate) fn apply(&self, request: Request) -> Request {
        request.map(|body| {
            Body::new(LimitedBody {
                inner: body,
                deadline: Box::pin(tokio::time::sleep_until(Instant::now() + self.timeout)),
                budget: PollSemaphore::new(self.budget.clone()),
                budget_bytes: self.budget_bytes,
                held: None,
                waiting: None,
            })
        })
    }
}

/// The body error when the deadline passes: the connection is then closed
/// (hyper closes a connection whose request body was not read to its end).
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within --http-body-timeout")]
pub(crate) struct BodyTimedOut;

struct LimitedBody {
    inner: Body,
    deadline: Pin<Box<Sleep>>,
    budget: PollSemaphore,
    budget_bytes: u32,
    /// The budget this body's data took, given back when it is dropped.
    held: Option<OwnedSemaphorePermit>,
    /// A frame read before the budget had room for it.
    waiting: Option<Frame<Bytes>>,
}

impl HttpBody for LimitedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        if this.deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err(axum::Error::new(BodyTimedOut))));
        }
        let frame = match this.waiting.take() {
            Some(frame) => frame,
            None => match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
                Some(Ok(frame)) => frame,
                other => return Poll::Ready(other),
            },
        };
        let size = frame.data_ref().map_or(0, Bytes::len);
        if size > 0 {
            // A frame larger than the whole budget takes all of it.
            let permits = u32::try_from(size)
                .unwrap_or(u32::MAX)
                .min(this.budget_bytes);
            match this.budget.poll_acquire_many(cx, permits) {
                Poll::Ready(Some(permit)) => match &mut this.held {
                    Some(held) => held.merge(permit),
                    None => this.held = Some(permit),
                },
                // Closed: never happens, the semaphore is never closed.
                Poll::Ready(None) => {}
                Poll::Pending => {
                    this.waiting = Some(frame);
                    return Poll::Pending;
                }
            }
        }
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.waiting.is_none() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
