//! [`ConnectQueryFilter`], the I/O wrapper around an upgraded `EIO=3`
//! websocket connection: it reads the client's bytes through the sans-IO
//! frame rewriter of `ws_frames` and lets writes pass untouched.

use std::{
    cmp::min,
    fmt, io,
    pin::Pin,
    task::{Context, Poll, ready},
};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::ws_frames::FrameRewriter;

/// An [`AsyncRead`] + [`AsyncWrite`] wrapper around a server-side websocket
/// connection that rewrites the client's CONNECT frames: a single-frame text
/// message `40/ns?query,…` (or `40/ns?query`) becomes `40/ns,…` (or `40/ns`),
/// re-masked and re-framed with its new length.
///
/// Only small text frames are held back until their first payload bytes show
/// whether they are such a CONNECT; every other frame streams through
/// without its payload being buffered. Writes pass straight through.
pub struct ConnectQueryFilter<S> {
    inner: S,
    frames: FrameRewriter,
    /// Rewritten bytes not yet handed to the reader, from `pending_pos` on.
    pending: Vec<u8>,
    pending_pos: usize,
}

/// Bytes read per call while frames are held back. On the stack, not in
/// the connection: an idle socket holds no read buffer of ours.
const SCRATCH_SIZE: usize = 2 * 1024;

/// Held-back capacity kept between reads; more is given back once drained.
const PENDING_KEEP: usize = 4 * 1024;

impl<S> ConnectQueryFilter<S> {
    /// Wraps the server side of an upgraded websocket connection.
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            frames: FrameRewriter::default(),
            pending: Vec::new(),
            pending_pos: 0,
        }
    }

    /// Copies pending bytes into `buf`; `false` if there were none.
    fn drain_pending(&mut self, buf: &mut ReadBuf<'_>) -> bool {
        let available = &self.pending[self.pending_pos..];
        if available.is_empty() {
            return false;
        }
        let n = min(available.len(), buf.remaining());
        buf.put_slice(&available[..n]);
        self.pending_pos += n;
        if self.pending_pos == self.pending.len() {
            self.pending.clear();
            self.pending.shrink_to(PENDING_KEEP);
            self.pending_pos = 0;
        }
        true
    }
}

impl<S: AsyncRead + Unpin> ConnectQueryFilter<S> {
    /// Reads payload bytes of a frame that needs no rewriting straight into
    /// the caller's buffer, skipping the scratch copy.
    fn poll_read_passthrough(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
        remaining: u64,
    ) -> Poll<io::Result<()>> {
        let limit = usize::try_from(remaining)
            .unwrap_or(usize::MAX)
            .min(buf.remaining());
        let mut direct = ReadBuf::new(buf.initialize_unfilled_to(limit));
        ready!(Pin::new(&mut self.inner).poll_read(cx, &mut direct))?;
        let n = direct.filled().len();
        buf.advance(n);
        self.frames.consume_passthrough(n);
        Poll::Ready(Ok(()))
    }

    /// Reads from the connection through the frame rewriter; `Ok(false)` at
    /// end of stream once everything held back has been released.
    fn poll_fill_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<bool>> {
        let mut bytes = [0; SCRATCH_SIZE];
        let mut scratch = ReadBuf::new(&mut bytes);
        ready!(Pin::new(&mut self.inner).poll_read(cx, &mut scratch))?;
        let read = scratch.filled();
        if read.is_empty() {
            // Release a truncated frame as it came, so the websocket layer
            // reports the broken stream itself.
            self.frames.finish(&mut self.pending);
            return Poll::Ready(Ok(!self.pending.is_empty()));
        }
        self.frames.feed(read, &mut self.pending);
        Poll::Ready(Ok(true))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for ConnectQueryFilter<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if buf.remaining() == 0 || this.drain_pending(buf) {
                return Poll::Ready(Ok(()));
            }
            if let Some(remaining) = this.frames.passthrough_remaining() {
                return this.poll_read_passthrough(cx, buf, remaining);
            }
            // Input may be held back entirely (part of a header or of a
            // CONNECT frame): keep reading rather than report 0 bytes, which
            // would mean end of stream.
            if !ready!(this.poll_fill_pending(cx))? {
                return Poll::Ready(Ok(()));
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for ConnectQueryFilter<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

impl<S> fmt::Debug for ConnectQueryFilter<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectQueryFilter")
            .field("pending", &(self.pending.len() - self.pending_pos))
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::legacy::ws_frames::testing::{OP_BINARY, client_frame, text};

    /// Yields its data a few bytes per read, returning `Pending` in between to
    /// exercise the wakeup path.
    struct TrickleReader {
        data: Vec<u8>,
        pos: usize,
        step: usize,
        pending_next: bool,
    }

    impl AsyncRead for TrickleReader {
        fn poll_read(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            let this = self.get_mut();
            this.pending_next = !this.pending_next;
            if this.pending_next {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            let n = min(min(this.step, buf.remaining()), this.data.len() - this.pos);
            buf.put_slice(&this.data[this.pos..this.pos + n]);
            this.pos += n;
            Poll::Ready(Ok(()))
        }
    }

    async fn read_filtered(data: Vec<u8>, step: usize, read_size: usize) -> Vec<u8> {
        use tokio::io::AsyncReadExt;
        let reader = TrickleReader {
            data,
            pos: 0,
            step,
            pending_next: false,
        };
        let mut filter = ConnectQueryFilter::new(reader);
        let mut out = Vec::new();
        let mut buf = vec![0; read_size];
        loop {
            let n = filter.read(&mut buf).await.unwrap_or(0);
            if n == 0 {
                return out;
            }
            out.extend_from_slice(&buf[..n]);
        }
    }

    #[tokio::test]
    async fn filter_rewrites_through_async_reads() {
        let mut input = text("2probe");
        input.extend(client_frame(true, OP_BINARY, &vec![7; 70_000]));
        input.extend(text("40/chat-service?user=alice,"));
        input.extend(text(r#"42/chat-service,0["echo","é"]"#));
        let mut expected = text("2probe");
        expected.extend(client_frame(true, OP_BINARY, &vec![7; 70_000]));
        expected.extend(text("40/chat-service,"));
        expected.extend(text(r#"42/chat-service,0["echo","é"]"#));
        for (step, read_size) in [(1, 1), (1, 4096), (3, 2), (5000, 7), (100_000, 100_000)] {
            assert_eq!(
                read_filtered(input.clone(), step, read_size).await,
                expected,
                "step {step}, read size {read_size}"
            );
        }
    }
}
