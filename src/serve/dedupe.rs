//! Feedback request ids seen lately, so that a client retrying a report it is not sure
//! arrived is counted once.

use std::collections::{HashSet, VecDeque};

/// Ids remembered; past this the oldest is forgotten (a retry comes within seconds).
pub const MAX_REQUEST_IDS: usize = 100_000;

/// The longest request id accepted, in bytes.
pub const MAX_REQUEST_ID_BYTES: usize = 200;

/// The latest ids, oldest first.
#[derive(Default)]
pub struct RecentIds {
    seen: HashSet<String>,
    order: VecDeque<String>,
}

impl RecentIds {
    /// Remembers `id`; tells whether it is new.
    pub fn first_time(&mut self, id: &str) -> bool {
        if self.seen.contains(id) {
            return false;
        }
        if self.order.len() == MAX_REQUEST_IDS
            && let Some(oldest) = self.order.pop_front()
        {
            self.seen.remove(&oldest);
        }
        self.seen.insert(id.to_owned());
        self.order.push_back(id.to_owned());
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_counts_once_until_it_is_forgotten() {
        let mut ids = RecentIds::default();
        assert!(ids.first_time("a"));
        assert!(!ids.first_time("a"));
        for i in 0..MAX_REQUEST_IDS {
            ids.first_time(&i.to_string());
        }
        assert!(ids.first_time("a"), "the oldest is forgotten first");
        assert_eq!(ids.order.len(), MAX_REQUEST_IDS);
    }
}
