//! A bounded in-process map: the last known state of recently used
//! aggregates, and facts that never change once written (which project owns
//! a conversation).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;

/// At most `capacity` entries; inserting into a full map evicts an arbitrary
/// one. Random eviction keeps no bookkeeping per read, and the working set of
/// a 2-core server (the aggregates written in the last seconds) is far below
/// any sensible capacity.
pub struct BoundedCache<K, V> {
    entries: Mutex<HashMap<K, V>>,
    capacity: usize,
}

impl<K: Eq + Hash + Clone, V: Clone> BoundedCache<K, V> {
    /// An empty map holding at most `capacity` entries (at least one).
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
        }
    }

    /// A copy of the entry for `key` (looked up by any borrowed form: a
    /// `&str` for a `String` key, without allocating).
    pub fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.lock().get(key).cloned()
    }

    /// Stores `value` for `key` unless `keep_existing` says the entry already
    /// there is to be kept (a newer state stored by a racing writer).
    pub fn put_unless(&self, key: K, value: V, keep_existing: impl FnOnce(&V) -> bool) {
        let mut entries = self.lock();
        if let Some(existing) = entries.get_mut(&key) {
            if !keep_existing(existing) {
                *existing = value;
            }
            return;
        }
        if entries.len() >= self.capacity
            && let Some(victim) = entries.keys().next().cloned()
        {
            entries.remove(&victim);
        }
        entries.insert(key, value);
    }

    /// Stores `value` for `key`.
    pub fn put(&self, key: K, value: V) {
        self.put_unless(key, value, |_| false);
    }

    /// Forgets `key`.
    pub fn remove<Q>(&self, key: &Q)
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.lock().remove(key);
    }

    /// How many entries are held.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, V>> {
        // A panic while holding the lock leaves a map that is still
        // consistent (every operation is a single map call).
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::BoundedCache;

    #[test]
    fn holds_at_most_its_capacity() {
        let cache = BoundedCache::new(3);
        for n in 0..10 {
            cache.put(n, n * 2);
        }
        assert_eq!(cache.len(), 3);
        assert_eq!(cache.get(&9), Some(18), "the last entry stored is held");
    }

    #[test]
    fn keeps_the_existing_entry_when_asked() {
        let cache = BoundedCache::new(3);
        cache.put("a", 5);
        cache.put_unless("a", 4, |existing| *existing > 4);
        assert_eq!(cache.get(&"a"), Some(5));
        cache.put_unless("a", 6, |existing| *existing > 6);
        assert_eq!(cache.get(&"a"), Some(6));
        cache.remove(&"a");
        assert_eq!(cache.get(&"a"), None);
    }
}
