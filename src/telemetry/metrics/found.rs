//! The series of the families whose label values are owned strings (tasks,
//! steps, attempts, durations), kept once found: a lookup by the borrowed
//! values with hashbrown's hasher, instead of building a label set of owned
//! strings and hashing it with SipHash behind the family's lock for every
//! event (most of the 1,100 instructions an event's metrics took).

use hashbrown::{Equivalent, HashMap};

/// A series' three label values, owned: as the map keeps them.
#[derive(Debug, Hash, PartialEq, Eq)]
struct Key(String, String, &'static str);

/// The same values, borrowed: as a lookup gives them. Hashes as `Key` does.
#[derive(Hash)]
struct Lookup<'a>(&'a str, &'a str, &'static str);

impl Equivalent<Key> for Lookup<'_> {
    fn equivalent(&self, key: &Key) -> bool {
        self.0 == key.0 && self.1 == key.1 && self.2 == key.2
    }
}

impl From<&Lookup<'_>> for Key {
    fn from(lookup: &Lookup<'_>) -> Self {
        Key(lookup.0.to_owned(), lookup.1.to_owned(), lookup.2)
    }
}

/// Handles to the series of one family found so far, by up to three label
/// values (an empty string for one a family lacks). A family's handles share
/// its counts, and families never drop a series, so a handle never goes stale.
#[derive(Debug)]
pub(super) struct Found<M>(HashMap<Key, M>);

impl<M> Default for Found<M> {
    fn default() -> Self {
        Self(HashMap::default())
    }
}

impl<M> Found<M> {
    /// The series labelled `a`, `b`, `c`; `create` finds it in its family
    /// the first time.
    pub(super) fn get(&mut self, a: &str, b: &str, c: &'static str, create: impl FnOnce() -> M) -> &M {
        self.0.entry_ref(&Lookup(a, b, c)).or_insert_with(create)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_series_is_created_once_and_found_by_all_three_values() {
        let mut found = Found::default();
        let mut created = 0;
        let mut get = |found: &mut Found<u32>, a, b, c| {
            *found.get(a, b, c, || {
                created += 1;
                created
            })
        };
        assert_eq!(get(&mut found, "pay", "charge", "complete"), 1);
        assert_eq!(get(&mut found, "pay", "charge", "complete"), 1);
        assert_eq!(get(&mut found, "pay", "charge", "error"), 2);
        assert_eq!(get(&mut found, "pay", "refund", "complete"), 3);
        assert_eq!(get(&mut found, "ship", "charge", "complete"), 4);
        // The values are kept apart: no concatenation can collide.
        assert_eq!(get(&mut found, "payc", "harge", "complete"), 5);
        assert_eq!(get(&mut found, "pay", "charge", "complete"), 1);
    }
}
