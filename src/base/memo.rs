//! Process-wide memos: answers kept by key for the life of the process, bounded, and
//! started again empty when full (a memo only saves time, so forgetting is always safe).

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Mutex, MutexGuard};

/// Answers by key, at most `most` of them; usable as a `static`.
pub struct Memo<K, V> {
    most: usize,
    map: Mutex<Option<HashMap<K, V>>>,
}

impl<K: Eq + Hash, V: Clone> Memo<K, V> {
    /// An empty memo that keeps at most `most` answers.
    pub const fn new(most: usize) -> Self {
        Memo {
            most,
            map: Mutex::new(None),
        }
    }

    /// The answer kept for `key`, if any.
    pub fn get<Q: Eq + Hash + ?Sized>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
    {
        self.lock().as_ref()?.get(key).cloned()
    }

    /// Keeps `value` for `key`, forgetting every answer first when the memo is full.
    pub fn keep(&self, key: K, value: V) {
        let mut map = self.lock();
        let map = map.get_or_insert_with(HashMap::new);
        if map.len() >= self.most {
            map.clear();
        }
        map.insert(key, value);
    }

    /// The answer kept for `key`, or `work`'s, kept. `work` runs without the lock held, so
    /// two threads may both work out a missing answer; the last one kept stays.
    pub fn answer(&self, key: K, work: impl FnOnce() -> V) -> V {
        if let Some(found) = self.get(&key) {
            return found;
        }
        let value = work();
        self.keep(key, value.clone());
        value
    }

    /// The map; a thread that panicked while holding it left only whole entries.
    fn lock(&self) -> MutexGuard<'_, Option<HashMap<K, V>>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_memo_starts_again_and_an_answer_is_worked_out_once() {
        let memo: Memo<u32, u32> = Memo::new(2);
        let mut worked = 0;
        for _ in 0..3 {
            assert_eq!(
                memo.answer(1, || {
                    worked += 1;
                    10
                }),
                10
            );
        }
        assert_eq!(worked, 1);
        memo.keep(2, 20);
        memo.keep(3, 30);
        assert_eq!(
            (memo.get(&1), memo.get(&2), memo.get(&3)),
            (None, None, Some(30))
        );
    }
}
