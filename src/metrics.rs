//! What the service measures: every metric's name and meaning, and the small
//! functions the code calls where things happen.
//!
//! Recording goes through the [`metrics`](::metrics) facade: a library user
//! who installs no recorder pays nothing (every call is a no-op); the
//! binary's `GET /metrics` (`http::metrics`) installs the Prometheus
//! recorder and [`describe`]s everything, so every metric is exported from
//! the start, at zero.
//!
//! The gauges are kept from transitions (+1 / -1 where a socket logs in,
//! joins, leaves, goes away). A transition is recorded by the instance that
//! performs it: on one instance the gauges are exact; in a cluster a user
//! may come online on one instance and go offline on another (or be cleaned
//! up by `instanceRecovery`), so only the sum over instances is meaningful
//! for `users_online` and `joined_sockets`.

use std::time::Duration;

use ::metrics::{Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge};

use crate::error::ChatServiceError;

/// Gauge: sockets logged in on this instance (a socket counts from
/// `loginConfirmed` until its disconnect).
pub const CONNECTIONS: &str = "chat_service_connections";
/// Gauge: users with at least one logged-in socket (0 -> 1 and 1 -> 0
/// transitions of a user's `nconnected`).
pub const USERS_ONLINE: &str = "chat_service_users_online";
/// Gauge: (socket, room) memberships: `roomJoin` of a socket not yet
/// joined adds one; `roomLeave`, disconnect and access removal take away.
pub const JOINED_SOCKETS: &str = "chat_service_joined_sockets";
/// Counter `{outcome}`: logins, `ok` or the error code of `loginRejected`.
pub const LOGINS: &str = "chat_service_logins_total";
/// Counter `{command, outcome}`: commands run (client requests and
/// `execUserCommand`), by name and outcome: `ok` or the error code
/// (`noRoom`, `notJoined`, `internalError`, a hook's own code …). Unknown
/// command names (server calls only) are counted as `command="unknown"`.
pub const COMMANDS: &str = "chat_service_commands_total";
/// Histogram `{command}`: the time a command took, hooks included.
pub const COMMAND_DURATION: &str = "chat_service_command_duration_seconds";
/// Counter: room messages accepted and broadcast to their room's channel
/// (one per message, whatever the number of recipients: with a remote
/// adapter the recipients on other instances are not known here).
pub const ROOM_MESSAGES: &str = "chat_service_room_messages_total";
/// Counter: direct messages delivered to their recipient's sockets.
pub const DIRECT_MESSAGES: &str = "chat_service_direct_messages_total";
/// Counter: rooms created (`roomCreate`, `addRoom`).
pub const ROOMS_CREATED: &str = "chat_service_rooms_created_total";
/// Counter: rooms deleted (`roomDelete`, `deleteRoom`).
pub const ROOMS_DELETED: &str = "chat_service_rooms_deleted_total";
/// Counter: failed Redis operations (state or adapter), see [`redis_error`].
pub const REDIS_ERRORS: &str = "chat_service_redis_errors_total";
/// Counter: cluster bus requests that got no answer within
/// `busAckTimeout`, see [`bus_timeout`].
pub const BUS_TIMEOUTS: &str = "chat_service_bus_timeouts_total";

/// Counter: pub/sub messages between instances lost because this
/// instance read them slower than Redis delivered them (see
/// `cluster::driver`); a member that misses a room message this way sees a
/// gap in the ids and resyncs with `roomHistoryGet`.
pub const PUBSUB_LOST: &str = "chat_service_pubsub_lost_total";

/// Counter `{kind}`: requests holding input the service had to read the
/// hard way or refuse (`lone_surrogate`: replaced by U+FFFD; `too_deep`:
/// an argument nested deeper than the limit, refused with `badArgument`;
/// `huge_number`: a number beyond the double range, read as `null`;
/// `unreadable`: not JSON at all). Counted instead of
/// logged, so that a client cannot flood the log.
pub const BAD_INPUT: &str = "chat_service_bad_input_total";
/// Counter `{limit}`: requests and logins refused for a limit of
/// interface.md 8 (`max_sockets_per_user`, `rate_limit`,
/// `max_rooms_per_user`, `max_message_bytes`).
pub const LIMITED: &str = "chat_service_limited_total";
/// Counter: instances this instance recovered after their heartbeat went
/// stale (protocol.md 14.5), see [`instance_recovered`].
pub const INSTANCES_RECOVERED: &str = "chat_service_instances_recovered_total";
/// Counter: times this instance found its own sockets unknown to the state
/// (recovered by another instance while cut off, or Redis emptied) and
/// registered them again, see [`sockets_reregistered`].
pub const REREGISTRATIONS: &str = "chat_service_reregistrations_total";

/// Counter `{hook}`: calls of an HTTP hook (interface.md 7), by hook name
/// (`connect`, `disconnect`, `roomMessage:before`, …).
pub const HOOK_CALLS: &str = "chat_service_hook_calls_total";
/// Counter `{hook, reason}`: failed HTTP hook calls: `timeout`,
/// `unreachable` (no connection, or it broke), `status` (not 2xx),
/// `answer` (not a JSON object of the hook's shape, or too long).
pub const HOOK_FAILURES: &str = "chat_service_hook_failures_total";
/// Histogram `{hook}`: the time an HTTP hook call took, failed ones
/// included.
pub const HOOK_DURATION: &str = "chat_service_hook_duration_seconds";

/// The latency buckets of [`COMMAND_DURATION`] and [`HOOK_DURATION`], in
/// seconds.
pub const DURATION_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// Describes every metric to the installed recorder and registers the
/// unlabelled ones, so that a scrape shows them at zero before anything
/// happened.
pub fn describe() {
    describe_gauge!(CONNECTIONS, "Sockets logged in on this instance");
    describe_gauge!(USERS_ONLINE, "Users with at least one logged-in socket");
    describe_gauge!(JOINED_SOCKETS, "Socket memberships of rooms");
    describe_counter!(LOGINS, "Logins by outcome (ok or the error code)");
    describe_counter!(
        COMMANDS,
        "Commands run, by command name and outcome (ok or the error code)"
    );
    describe_histogram!(
        COMMAND_DURATION,
        Unit::Seconds,
        "Command latency, hooks included"
    );
    describe_counter!(ROOM_MESSAGES, "Room messages broadcast to their room");
    describe_counter!(DIRECT_MESSAGES, "Direct messages delivered to a recipient");
    describe_counter!(ROOMS_CREATED, "Rooms created");
    describe_counter!(ROOMS_DELETED, "Rooms deleted");
    describe_counter!(REDIS_ERRORS, "Failed Redis operations");
    describe_counter!(
        BUS_TIMEOUTS,
        "Cluster bus requests without an answer within busAckTimeout"
    );
    describe_counter!(
        PUBSUB_LOST,
        "Messages between instances lost because this instance read them too slowly"
    );
    describe_counter!(
        BAD_INPUT,
        "Requests with input read the hard way or refused, by kind"
    );
    describe_counter!(LIMITED, "Requests and logins refused for a limit, by limit");
    describe_counter!(
        INSTANCES_RECOVERED,
        "Instances recovered by this one after their heartbeat went stale"
    );
    describe_counter!(
        REREGISTRATIONS,
        "Times this instance registered its sockets again after the state lost them"
    );
    describe_counter!(HOOK_CALLS, "HTTP hook calls, by hook");
    describe_counter!(HOOK_FAILURES, "Failed HTTP hook calls, by hook and reason");
    describe_histogram!(
        HOOK_DURATION,
        Unit::Seconds,
        "HTTP hook call latency, by hook"
    );
    for name in [CONNECTIONS, USERS_ONLINE, JOINED_SOCKETS] {
        gauge!(name).increment(0.0);
    }
    for name in [
        ROOM_MESSAGES,
        DIRECT_MESSAGES,
        ROOMS_CREATED,
        ROOMS_DELETED,
        REDIS_ERRORS,
        BUS_TIMEOUTS,
        PUBSUB_LOST,
        INSTANCES_RECOVERED,
        REREGISTRATIONS,
    ] {
        counter!(name).increment(0);
    }
}

/// A socket was added to the state; its user now has `nconnected`.
pub fn socket_added(nconnected: usize) {
    if nconnected == 1 {
        gauge!(USERS_ONLINE).increment(1.0);
    }
}

/// A socket's login succeeded.
pub fn socket_logged_in() {
    gauge!(CONNECTIONS).increment(1.0);
    counter!(LOGINS, "outcome" => "ok").increment(1);
}

/// A login was rejected with `error`.
pub fn login_rejected(error: &ChatServiceError) {
    counter!(LOGINS, "outcome" => error.code().to_string()).increment(1);
}

/// A logged-in socket of this instance disconnected.
pub fn socket_disconnected() {
    gauge!(CONNECTIONS).decrement(1.0);
}

/// A socket was removed from the state (disconnect, recovery, a login
/// undone): `nconnected` sockets of its user remain, it had been joined to
/// `rooms` rooms.
pub fn socket_removed(nconnected: usize, rooms: usize) {
    if nconnected == 0 {
        gauge!(USERS_ONLINE).decrement(1.0);
    }
    sockets_left_rooms(rooms);
}

/// A socket joined a room it was not joined to.
pub fn socket_joined_room() {
    gauge!(JOINED_SOCKETS).increment(1.0);
}

/// `n` socket memberships ended (`roomLeave`, access removal).
pub fn sockets_left_rooms(n: usize) {
    if n > 0 {
        gauge!(JOINED_SOCKETS).decrement(n as f64);
    }
}

/// A command finished with `outcome` after `elapsed`; `command` is its
/// name, or `unknown` for a name that is no command.
pub fn command_done<T>(
    command: &'static str,
    outcome: &Result<T, ChatServiceError>,
    elapsed: Duration,
) {
    let outcome = match outcome {
        Ok(_) => "ok".to_string(),
        Err(error) => error.code().to_string(),
    };
    ::metrics::histogram!(COMMAND_DURATION, "command" => command).record(elapsed.as_secs_f64());
    counter!(COMMANDS, "command" => command, "outcome" => outcome).increment(1);
}

/// A room message was broadcast to its room.
pub fn room_message_broadcast() {
    counter!(ROOM_MESSAGES).increment(1);
}

/// A direct message was sent to its recipient.
pub fn direct_message_delivered() {
    counter!(DIRECT_MESSAGES).increment(1);
}

/// A room was created.
pub fn room_created() {
    counter!(ROOMS_CREATED).increment(1);
}

/// A room was deleted.
pub fn room_deleted() {
    counter!(ROOMS_DELETED).increment(1);
}

/// A Redis operation failed (call once per failed operation).
pub fn redis_error() {
    counter!(REDIS_ERRORS).increment(1);
}

/// Pub/sub messages were lost (the reader fell behind).
pub fn pubsub_lost(count: u64) {
    counter!(PUBSUB_LOST).increment(count);
}

/// A cluster bus request got no answer within `busAckTimeout`.
pub fn bus_timeout() {
    counter!(BUS_TIMEOUTS).increment(1);
}

/// A request held input of `kind` (see [`BAD_INPUT`]).
pub fn bad_input(kind: &'static str) {
    counter!(BAD_INPUT, "kind" => kind).increment(1);
}

/// This instance recovered a dead instance.
pub fn instance_recovered() {
    counter!(INSTANCES_RECOVERED).increment(1);
}

/// This instance registered its sockets again.
pub fn sockets_reregistered() {
    counter!(REREGISTRATIONS).increment(1);
}

/// A request or login was refused for `limit` (see [`LIMITED`]).
pub fn limited(limit: &'static str) {
    counter!(LIMITED, "limit" => limit).increment(1);
}

/// An HTTP hook call finished after `elapsed`, failed for `failure` (a
/// [`HOOK_FAILURES`] reason) or not.
pub fn hook_called(hook: &str, failure: Option<&'static str>, elapsed: Duration) {
    counter!(HOOK_CALLS, "hook" => hook.to_string()).increment(1);
    ::metrics::histogram!(HOOK_DURATION, "hook" => hook.to_string()).record(elapsed.as_secs_f64());
    if let Some(reason) = failure {
        hook_failed(hook, reason);
    }
}

/// An HTTP hook call failed for `reason` (see [`HOOK_FAILURES`]).
pub fn hook_failed(hook: &str, reason: &'static str) {
    counter!(HOOK_FAILURES, "hook" => hook.to_string(), "reason" => reason).increment(1);
}
