//! Per-BMC request budget shared by every client in the process.
//!
//! BMCs are small embedded systems that fall over under parallel load, so all
//! callers talking to one BMC (whatever the protocol) share one semaphore.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use tokio::sync::Semaphore;

/// Concurrent requests allowed per BMC unless configured otherwise.
pub const DEFAULT_PERMITS: usize = 2;

fn registry() -> &'static Mutex<HashMap<String, Arc<Semaphore>>> {
    static REG: OnceLock<Mutex<HashMap<String, Arc<Semaphore>>>> = OnceLock::new();
    REG.get_or_init(|| Mutex::new(HashMap::new()))
}

/// The semaphore for a BMC identified by `key` (host and port, lower-case).
///
/// The first caller for a key decides the number of permits.
pub fn for_bmc(key: &str, permits: usize) -> Arc<Semaphore> {
    let mut map = match registry().lock() {
        Ok(m) => m,
        // A panic elsewhere while holding the lock leaves the map intact.
        Err(poisoned) => poisoned.into_inner(),
    };
    map.entry(key.to_ascii_lowercase())
        .or_insert_with(|| Arc::new(Semaphore::new(permits.max(1))))
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_bmc_same_budget() {
        let a = for_bmc("Example:623", 2);
        let b = for_bmc("example:623", 5);
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(b.available_permits(), 2);
        let c = for_bmc("other:623", 1);
        assert!(!Arc::ptr_eq(&a, &c));
    }
}
