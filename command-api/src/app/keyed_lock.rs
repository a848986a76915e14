//! One in-process lock per aggregate: writers to the same busy stream (many
//! agents posting to one conversation) queue here instead of colliding on
//! the event store's optimistic-concurrency check and retrying. Other
//! processes still race on the store; their conflicts are retried.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, Weak};

use tokio::sync::OwnedMutexGuard;
use uuid::Uuid;

/// Locks keyed by aggregate id, dropped when nobody holds or waits for them.
#[derive(Default)]
pub struct KeyedLocks {
    locks: Mutex<HashMap<Uuid, Weak<tokio::sync::Mutex<()>>>>,
}

impl KeyedLocks {
    /// Waits for the lock of `key`; it is released when the guard drops.
    pub async fn lock(&self, key: Uuid) -> OwnedMutexGuard<()> {
        let mutex = {
            // The map only caches weak handles: a poisoned guard is still usable.
            let mut locks = self.locks.lock().unwrap_or_else(PoisonError::into_inner);
            if locks.len() > 1024 {
                locks.retain(|_, lock| lock.strong_count() > 0);
            }
            match locks.get(&key).and_then(Weak::upgrade) {
                Some(mutex) => mutex,
                None => {
                    let mutex = Arc::new(tokio::sync::Mutex::new(()));
                    locks.insert(key, Arc::downgrade(&mutex));
                    mutex
                }
            }
        };
        let asked = std::time::Instant::now();
        let turn = mutex.lock_owned().await;
        zekka_event_store::metrics::METRICS
            .command_wait
            .with_label_values(&["stream_turn"])
            .observe(asked.elapsed().as_secs_f64());
        turn
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn holders_of_one_key_take_turns_and_other_keys_do_not_wait() {
        let locks = Arc::new(KeyedLocks::default());
        let key = Uuid::now_v7();
        let held = locks.lock(key).await;
        let waiter = {
            let locks = locks.clone();
            tokio::spawn(async move { locks.lock(key).await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished(), "the second holder waits");
        let _other = tokio::time::timeout(Duration::from_millis(100), locks.lock(Uuid::now_v7()))
            .await
            .expect("another key is free");
        drop(held);
        tokio::time::timeout(Duration::from_secs(1), waiter)
            .await
            .expect("the waiter gets the lock")
            .expect("task");
    }
}
