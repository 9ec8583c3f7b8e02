//! An in-process cache of validated answers, keyed by (name, type).
//!
//! It sits in front of hickory's own response cache so that a verdict, not
//! just a message, is reused, and so that proven absences are cached too
//! (hickory does not cache negative answers when it validates). Failures —
//! bogus and indeterminate — are never cached: the next query tries again.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hickory_resolver::proto::rr::{Name, RecordType};

use super::answer::DnsAnswer;

/// Entries beyond which expired ones are swept, and then the oldest
/// dropped: bounds memory against a flood of distinct lookups.
const MAX_ENTRIES: usize = 10_000;

#[derive(Debug, Default)]
pub struct AnswerCache {
    entries: Mutex<HashMap<(Name, RecordType), (DnsAnswer, Instant)>>,
}

impl AnswerCache {
    pub fn get(&self, name: &Name, query_type: RecordType, now: Instant) -> Option<DnsAnswer> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        match entries.get(&(name.clone(), query_type)) {
            Some((answer, expires)) if *expires > now => Some(answer.clone()),
            _ => None,
        }
    }

    /// Stores `answer` for `ttl`; failures and zero TTLs are not stored.
    pub fn put(
        &self,
        name: Name,
        query_type: RecordType,
        answer: &DnsAnswer,
        ttl: Duration,
        now: Instant,
    ) {
        if answer.failure().is_some() || ttl.is_zero() {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, (_, expires)| *expires > now);
            if entries.len() >= MAX_ENTRIES {
                let oldest = entries
                    .iter()
                    .min_by_key(|(_, (_, expires))| *expires)
                    .map(|(key, _)| key.clone());
                if let Some(key) = oldest {
                    entries.remove(&key);
                }
            }
        }
        entries.insert((name, query_type), (answer.clone(), now + ttl));
    }

    pub fn clear(&self) {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_failures_are_not_kept() {
        let cache = AnswerCache::default();
        let name = Name::from_ascii("a.test.").unwrap();
        let now = Instant::now();
        let absent = DnsAnswer::SecureAbsent { nxdomain: true };
        cache.put(
            name.clone(),
            RecordType::SMIMEA,
            &absent,
            Duration::from_secs(10),
            now,
        );
        assert_eq!(cache.get(&name, RecordType::SMIMEA, now), Some(absent));
        assert_eq!(
            cache.get(&name, RecordType::SMIMEA, now + Duration::from_secs(11)),
            None
        );
        assert_eq!(cache.get(&name, RecordType::TLSA, now), None);

        let bogus = DnsAnswer::Bogus("x".into());
        cache.put(
            name.clone(),
            RecordType::MX,
            &bogus,
            Duration::from_secs(10),
            now,
        );
        assert_eq!(cache.get(&name, RecordType::MX, now), None);
    }
}
