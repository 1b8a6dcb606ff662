//! Several instances, one service: the Redis connection settings they
//! share, the socket.io Redis adapter that carries broadcasts between them,
//! and the cluster bus for what must happen on another instance
//! (protocol.md 14).

pub mod adapter;
pub mod bus;
pub(crate) mod driver;

pub use bus::ClusterBus;

use futures::future::BoxFuture;

use crate::error::Result;

/// The outcome of binding a namespace: nothing to wait for with the local
/// adapter, a subscription to wait for with a remote one.
pub trait NamespaceInit {
    fn finish(self) -> BoxFuture<'static, Result<()>>;
}

impl NamespaceInit for () {
    fn finish(self) -> BoxFuture<'static, Result<()>> {
        Box::pin(std::future::ready(Ok(())))
    }
}
