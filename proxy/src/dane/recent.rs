//! Recipients recently proven to have a usable certificate: a small
//! in-memory directory, so an address book's prefix search ("ali…") can find
//! addresses the user already mailed, without scanning DNS (which cannot be
//! enumerated).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::address::Address;

/// How many addresses are remembered (oldest forgotten first).
const CAPACITY: usize = 1000;

/// How long an address is remembered after its last secure lookup.
const KEEP: Duration = Duration::from_secs(7 * 24 * 3600);

#[derive(Debug, Default)]
pub struct RecentAddresses {
    seen: Mutex<HashMap<String, (Address, Instant)>>,
}

impl RecentAddresses {
    pub fn record(&self, address: &Address) {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if seen.len() >= CAPACITY {
            seen.retain(|_, (_, at)| now.duration_since(*at) < KEEP);
            if seen.len() >= CAPACITY {
                if let Some(oldest) = seen
                    .iter()
                    .min_by_key(|(_, (_, at))| *at)
                    .map(|(k, _)| k.clone())
                {
                    seen.remove(&oldest);
                }
            }
        }
        seen.insert(address.original.to_lowercase(), (address.clone(), now));
    }

    /// Remembered addresses starting with `prefix` (case-insensitive), at most `limit`.
    pub fn starting_with(&self, prefix: &str, limit: usize) -> Vec<Address> {
        let prefix = prefix.to_lowercase();
        let now = Instant::now();
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let mut found: Vec<Address> = seen
            .iter()
            .filter(|(key, (_, at))| key.starts_with(&prefix) && now.duration_since(*at) < KEEP)
            .map(|(_, (address, _))| address.clone())
            .collect();
        found.sort_by(|a, b| a.original.cmp(&b.original));
        found.truncate(limit);
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_search_over_recent_addresses() {
        let recent = RecentAddresses::default();
        for a in ["alice@x.test", "Alan@y.test", "bob@x.test"] {
            recent.record(&Address::parse(a).unwrap());
        }
        let names: Vec<String> = recent
            .starting_with("al", 10)
            .into_iter()
            .map(|a| a.original)
            .collect();
        assert_eq!(names, ["Alan@y.test", "alice@x.test"]);
        assert_eq!(recent.starting_with("AL", 1).len(), 1);
        assert!(recent.starting_with("carol", 10).is_empty());
    }
}
