//! Spreading independent work over the machine's cores: parsing the prompts of a large
//! repository, loading and compiling the versions of a large release, walking a folder tree.

use std::sync::{Condvar, Mutex, PoisonError};

/// Items per thread below which spreading the work over threads is not worth it.
const ITEMS_PER_THREAD: usize = 64;

/// The cores this process may use, asked once: the answer reads the cgroup's files, which
/// was a measurable part of a command that maps a few times.
fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Maps `items` in order, spread over the machine's cores when there are many.
pub fn map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let most = items.len() / ITEMS_PER_THREAD;
    let threads = if most < 2 { 1 } else { cores().min(most) };
    if threads == 1 {
        return items.iter().map(f).collect();
    }
    let chunk = items.len().div_ceil(threads);
    let f = &f;
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().map(f).collect::<Vec<R>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}

/// [`map`] for items the work consumes (a draft finished into a prompt), so that none is
/// copied to be handed over.
pub fn map_owned<T: Send, R: Send>(mut items: Vec<T>, f: impl Fn(T) -> R + Sync) -> Vec<R> {
    let most = items.len() / ITEMS_PER_THREAD;
    let threads = if most < 2 { 1 } else { cores().min(most) };
    if threads == 1 {
        return items.into_iter().map(f).collect();
    }
    let chunk = items.len().div_ceil(threads);
    let mut parts = Vec::with_capacity(threads);
    while items.len() > chunk {
        parts.push(items.split_off(items.len() - chunk));
    }
    parts.push(items);
    parts.reverse();
    let f = &f;
    std::thread::scope(|scope| {
        let handles: Vec<_> = parts
            .into_iter()
            .map(|part| scope.spawn(move || part.into_iter().map(f).collect::<Vec<R>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}

/// Items waiting in a [`walk`] from which helper threads are worth starting: a new thread
/// costs about what reading a few folders does, and most prompt folders hold a few.
const WAITING_FOR_HELPERS: usize = 8;

/// Visits a tree of items (folders, say), over the machine's cores when it is large: each
/// thread takes the next item waiting, and `visit` adds the items it finds below it to
/// `found`. Returns every visit's result, in no particular order. The calling thread starts
/// alone and the others join once enough items wait; threads take items as they come, so a
/// large folder does not hold back the others as a fixed split would.
pub fn walk<T: Send, R: Send>(roots: Vec<T>, visit: impl Fn(T, &mut Vec<T>) -> R + Sync) -> Vec<R> {
    let queue = Queue {
        state: Mutex::new(Waiting {
            items: roots,
            busy: 0,
        }),
        changed: Condvar::new(),
    };
    let visit = &visit;
    let queue = &queue;
    std::thread::scope(|scope| {
        let mut helpers = Vec::new();
        let mut results = Vec::new();
        while let Some(item) = queue.next() {
            results.push(queue.visit(item, visit));
            if helpers.is_empty() && queue.waiting() >= WAITING_FOR_HELPERS {
                let work = move || queue.work(visit);
                helpers = (1..cores()).map(|_| scope.spawn(work)).collect();
            }
        }
        for helper in helpers {
            let done = helper.join();
            results.extend(done.unwrap_or_else(|e| std::panic::resume_unwind(e)));
        }
        results
    })
}

/// The items of a [`walk`] waiting to be visited, and how many visits are under way (their
/// items may find more: the walk ends when none is waiting and none is under way).
struct Queue<T> {
    state: Mutex<Waiting<T>>,
    changed: Condvar,
}

struct Waiting<T> {
    items: Vec<T>,
    busy: usize,
}

impl<T> Queue<T> {
    /// One thread's part of a walk: visits until nothing is left.
    fn work<R>(&self, visit: &impl Fn(T, &mut Vec<T>) -> R) -> Vec<R> {
        let mut results = Vec::new();
        while let Some(item) = self.next() {
            results.push(self.visit(item, visit));
        }
        results
    }

    /// Visits an item taken from the queue; what it finds joins the queue.
    fn visit<R>(&self, item: T, visit: &impl Fn(T, &mut Vec<T>) -> R) -> R {
        // Counts the visit done even when it panics, so the other threads end.
        let mut done = Done(self, Vec::new());
        visit(item, &mut done.1)
    }

    /// How many items wait to be visited.
    fn waiting(&self) -> usize {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.items.len()
    }

    /// The next item to visit, waiting while other visits may still find some.
    fn next(&self) -> Option<T> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(item) = state.items.pop() {
                state.busy += 1;
                return Some(item);
            }
            if state.busy == 0 {
                return None;
            }
            state = self
                .changed
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// A visit under way and what it found; on drop, the found items join the queue.
struct Done<'a, T>(&'a Queue<T>, Vec<T>);

impl<T> Drop for Done<'_, T> {
    fn drop(&mut self) {
        let queue = self.0;
        let mut state = queue.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.busy -= 1;
        state.items.append(&mut self.1);
        queue.changed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn keeps_the_order_of_the_items_whatever_the_split() {
        for n in [0, 1, 63, 64, 65, 1000] {
            let items: Vec<usize> = (0..n).collect();
            let doubled = super::map(&items, |i| i * 2);
            assert_eq!(doubled, (0..n).map(|i| i * 2).collect::<Vec<_>>());
            let owned = super::map_owned(items, |i| i * 2);
            assert_eq!(owned, doubled);
        }
    }

    #[test]
    fn a_walk_visits_every_item_found_once() {
        // A tree of depth 6 where item n finds 2n+1 and 2n+2 below it.
        let visit = |n, found: &mut Vec<u32>| {
            if n < 63 {
                found.extend([2 * n + 1, 2 * n + 2]);
            }
            n
        };
        let mut seen = super::walk(vec![0_u32], visit);
        seen.sort_unstable();
        assert_eq!(seen, (0..127).collect::<Vec<_>>());
        assert!(super::walk(Vec::<u32>::new(), |n, _| n).is_empty());
    }

    #[test]
    fn a_panicking_visit_ends_the_walk_with_its_panic() {
        let walked = std::panic::catch_unwind(|| {
            let visit = |n: u32, _: &mut Vec<u32>| assert!(n != 50, "item fifty");
            super::walk((0..100).collect(), visit)
        });
        assert!(walked.is_err());
    }
}
