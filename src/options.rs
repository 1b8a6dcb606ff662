//! The service options of the original's constructor (protocol.md 9) that
//! shape command semantics; the binary's `Config` fills them from flags.

use std::time::Duration;

use crate::schema::{MessageSchema, MessageSchemas};

/// Options of one chat service instance.
#[derive(Debug, Clone)]
pub struct ServiceOptions {
    /// socket.io namespace the service lives on.
    pub namespace: String,
    /// Default of `enableAccessListsUpdates` for new rooms.
    pub enable_access_lists_updates: bool,
    /// Default of `enableUserlistUpdates` for new rooms.
    pub enable_userlist_updates: bool,
    /// Clients may send `directMessage`.
    pub enable_direct_messages: bool,
    /// Clients may `roomCreate` / `roomDelete`.
    pub enable_rooms_management: bool,
    /// Cap of `roomHistoryGet` and size of `roomRecentHistory`.
    pub history_max_get_messages: usize,
    /// Default history capacity of new rooms.
    pub history_max_size: usize,
    pub direct_list_size_limit: usize,
    pub room_list_size_limit: usize,
    /// Errors as `{name, code, args}` objects instead of strings.
    pub use_raw_error_objects: bool,
    /// Longest wait for running commands when closing.
    pub close_timeout: Duration,
    pub heartbeat_rate: Duration,
    pub heartbeat_timeout: Duration,
    pub bus_ack_timeout: Duration,
    /// How long a (user, room) lock may be held before it is reported.
    pub lock_ttl: Duration,
    /// This instance's id in the cluster.
    pub instance_id: String,
    /// What one user or socket may use (interface.md 8); off by default.
    pub limits: Limits,
    /// The most bytes of stored messages one `roomHistoryGet` or
    /// `roomRecentHistory` reply carries (at least one message): a reply of
    /// the newest ones within it, so that no request makes the server
    /// build a reply of any size.
    pub history_reply_bytes: usize,
    /// Message formats given as JSON Schema (interface.md 7); none by
    /// default.
    pub message_schemas: MessageSchemas,
}

/// Limits against abuse (interface.md 8); 0 means no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    /// Sockets one user may have logged in (all instances); a login beyond
    /// gets `tooManySockets`.
    pub max_sockets_per_user: usize,
    /// Requests per second per socket, with a burst of as many; a request
    /// beyond acks `rateLimited` and is not run.
    pub rate_limit: u32,
    /// Rooms one user may own; `roomCreate` beyond fails with `notAllowed`.
    pub max_rooms_per_user: usize,
    /// Largest JSON of a room or direct message; larger gets `badArgument`.
    pub max_message_bytes: usize,
}

impl Default for ServiceOptions {
    fn default() -> Self {
        Self {
            namespace: "/chat-service".into(),
            enable_access_lists_updates: false,
            enable_userlist_updates: false,
            enable_direct_messages: false,
            enable_rooms_management: false,
            history_max_get_messages: 100,
            history_max_size: 10_000,
            direct_list_size_limit: 1000,
            room_list_size_limit: 10_000,
            use_raw_error_objects: false,
            close_timeout: Duration::from_millis(15_000),
            heartbeat_rate: Duration::from_millis(10_000),
            heartbeat_timeout: Duration::from_millis(30_000),
            bus_ack_timeout: Duration::from_millis(5_000),
            lock_ttl: Duration::from_millis(10_000),
            instance_id: uuid::Uuid::new_v4().to_string(),
            limits: Limits::default(),
            history_reply_bytes: 1_000_000,
            message_schemas: MessageSchemas::default(),
        }
    }
}

/// The format of each message kind, and how large a message may be
/// (`--max-message-bytes`, 0: any).
#[derive(Debug, Clone, Default)]
pub struct Formats {
    pub room: MessageFormat,
    pub direct: MessageFormat,
    pub max_message_bytes: usize,
}

/// What a message of one kind must be (protocol.md 3.2, interface.md 7):
/// `{textMessage: string}` unless a checker hook or a schema says
/// otherwise.
#[derive(Debug, Clone, Default)]
pub struct MessageFormat {
    /// A checker hook is set: any plain object passes validation, the
    /// checker decides after it.
    pub custom: bool,
    /// The message must satisfy this schema (and have none of the fields
    /// the server sets).
    pub schema: Option<MessageSchema>,
}
