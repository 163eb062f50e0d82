//! Walking two sequences sorted by the same key side by side, each item met once.

use std::iter::Peekable;

/// Skips the items of `sorted` whose key (by `key_of`) is below `key`, and takes the next
/// one when its key is `key`. Called with keys in ascending order, a walk meets every item
/// of `sorted` once, rather than searching it for each key.
pub fn take_at<T, K: Ord + ?Sized>(
    sorted: &mut Peekable<impl Iterator<Item = T>>,
    key: &K,
    key_of: impl Fn(&T) -> &K,
) -> Option<T> {
    while sorted.next_if(|item| key_of(item) < key).is_some() {}
    sorted.next_if(|item| key_of(item) == key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_key_takes_its_item_and_skips_the_ones_before() {
        let mut items = [(1, 'a'), (3, 'b'), (4, 'c'), (9, 'd')]
            .into_iter()
            .peekable();
        fn by(item: &(i32, char)) -> &i32 {
            &item.0
        }
        assert_eq!(take_at(&mut items, &2, by), None, "no item at 2");
        assert_eq!(take_at(&mut items, &3, by), Some((3, 'b')), "1 skipped");
        assert_eq!(take_at(&mut items, &4, by), Some((4, 'c')));
        assert_eq!(take_at(&mut items, &10, by), None, "9 skipped");
        assert_eq!(items.next(), None);
    }
}
