//! The cloud reads of the LunaMonitorCheck controller: the account's shared
//! `monitor check-list`, and its `monitor check-types` (read on demand: types change rarely).

use crate::{
    controller::caches::list_cache,
    lunanode::types::{CheckType, MonitorCheck},
};

list_cache! {
    /// The account's `monitor check-list` cache, polled; shared by every LunaMonitorCheck.
    pub fn checks(account) -> MonitorCheck = "monitor check-list",
        |client| client.monitor_check_list(),
        |check| &check.id,
        |check| check
}

list_cache! {
    /// The account's `monitor check-types`, by key, read when asked only.
    pub fn types(account) -> CheckType = "monitor check-types" on demand,
        |client| client.monitor_check_types(),
        |check_type| &check_type.key,
        |check_type| check_type
}
