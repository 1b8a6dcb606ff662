//! The state conformance suite: what every [`State`] implementation must
//! do, written once against `Arc<dyn State>` (protocol.md 4, 5, 8, 13,
//! 14.4). The memory and Redis states run it; so can any other.
//!
//! Each case is a `pub async fn case(state: Arc<dyn State>)` that gets a
//! fresh, empty state. [`state_conformance!`](crate::state_conformance)
//! turns the whole list into one `#[tokio::test]` per case for a given
//! factory, a closure returning a future of `Arc<dyn State>`:
//!
//! ```ignore
//! mod conformance {
//!     chat_service::state_conformance!(|| async {
//!         std::sync::Arc::new(MyState::open_empty().await) as std::sync::Arc<dyn chat_service::state::State>
//!     });
//! }
//! ```
//!
//! Inside this crate the module is compiled for tests. Another crate of the
//! workspace (or anywhere else) enables the `conformance` feature in its
//! dev-dependencies, `chat-service = { path = "..", features =
//! ["conformance"] }`, and needs `tokio` with the `macros` and `rt`
//! features for the generated tests. A case may also be called on its
//! own, e.g. `chat_service::state::conformance::lists_are_sets(state)`.
//!
//! Cases never depend on the order of set-like results (users of a room,
//! sockets of an instance, list entries): those are compared sorted. The
//! access rules each have cases here, which is how the Lua copy of the
//! rules (Redis) and the Rust one (`state/access.rs`) are held to agree.

mod helpers;
mod history;
mod instances;
mod lists;
mod reads;
mod rooms;
mod users;

pub use history::*;
pub use instances::*;
pub use lists::*;
pub use reads::*;
pub use rooms::*;
pub use users::*;

#[cfg(doc)]
use crate::state::State;

/// Generates one `#[tokio::test]` per conformance case, each on a fresh
/// state made by `$make` (a closure returning a future of `Arc<dyn State>`).
#[macro_export]
macro_rules! state_conformance {
    ($make:expr) => {
        $crate::state_conformance!(@cases $make;
            add_room_then_has_room_and_room_exists,
            add_room_keeps_its_config,
            delete_room_checks_room_then_owner,
            delete_room_returns_joined_sockets_of_present_users,
            recreated_room_starts_empty,
            room_access_admin_beats_blacklist,
            room_access_whitelist_only,
            room_access_of_missing_room_is_no_room,
            room_join_counts_sockets_and_reports_already,
            room_join_checks_access,
            room_join_of_unregistered_socket_is_invalid_socket,
            room_join_and_leave_of_missing_room_is_no_room,
            room_leave_counts_sockets_and_reports_was_joined,
            seen_changes_only_when_entering_or_leaving_userlist,
            room_remove_user_removes_all_joined_sockets,
            room_userlist_and_users_without_sockets,
            userlist_updates_flag_is_reported_by_join_and_leave,
            list_change_userlist_is_never_allowed,
            list_change_owner_may_change_every_list,
            list_change_admin_rules,
            list_change_others_get_not_allowed_before_no_list,
            list_change_bypass_skips_permissions_only,
            list_change_of_missing_room_is_no_room,
            room_has_in_list_checks_room_then_list,
            lists_are_sets,
            list_size_limit_counts_current_and_requested_names,
            blacklist_add_removes_present_non_admins,
            whitelist_remove_removes_only_in_whitelist_only_mode,
            whitelist_remove_keeps_the_owner_in_whitelist_only_mode,
            whitelist_mode_true_removes_unlisted_users_and_owner,
            whitelist_mode_keeps_listed_owner_and_false_removes_nobody,
            whitelist_mode_permissions,
            other_list_changes_remove_nobody,
            access_change_reports_access_lists_updates,
            message_ids_start_at_one_and_message_is_processed,
            add_message_requires_membership_unless_told_not_to,
            history_is_a_bounded_ring_of_newest_messages,
            history_max_size_zero_counts_ids_but_stores_nothing,
            message_feed_publishes_each_room_in_id_order,
            history_get_examples_of_section_8,
            history_get_examples_with_rotated_messages,
            recent_history_is_newest_first_and_limited,
            set_history_max_size_trims_and_none_keeps_capacity,
            room_reads_check_room_then_presence_then_list,
            room_reads_presence_rules,
            room_settings_setters,
            add_user_has_user_delete_user,
            conversations_are_a_user_list_no_access_rule_reads,
            delete_user_with_sockets_is_user_online,
            direct_lists_change_and_read,
            direct_list_size_limit,
            direct_whitelist_mode,
            direct_access_rules,
            user_queries_of_unknown_user_are_no_user,
            add_socket_counts_and_creates_user,
            user_sockets_and_rooms,
            remove_socket_reports_rooms_and_counts,
            add_socket_again_keeps_its_rooms,
            instance_sockets_per_instance,
            heartbeats,
            recovery_is_claimed_once_and_only_for_stale_instances,
            rooms_owned_counts_rooms_owned_now,
            lock_waits_for_the_same_pair_until_guard_drops,
            lock_on_different_pairs_does_not_block,
            lock_can_be_retaken_many_times,
            ping_answers,
        );
    };
    (@cases $make:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                let state: ::std::sync::Arc<dyn $crate::state::State> = ($make)().await;
                $crate::state::conformance::$case(state).await;
            }
        )*
    };
}
