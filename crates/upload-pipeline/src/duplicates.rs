//! Finding a natural key given twice in one file: the first valid occurrence is
//! imported, later ones are rejected naming the row of the first.

use std::collections::HashMap;
use std::hash::Hash;

/// The row where each key was first seen.
#[derive(Debug)]
pub struct FirstRows<K> {
    first_row: HashMap<K, u64>,
}

impl<K: Eq + Hash> Default for FirstRows<K> {
    fn default() -> Self {
        Self { first_row: HashMap::new() }
    }
}

impl<K: Eq + Hash> FirstRows<K> {
    /// Records `key` at `row`; if it was seen before, returns that earlier row instead.
    pub fn first_seen(&mut self, key: K, row: u64) -> Option<u64> {
        match self.first_row.get(&key) {
            Some(first) => Some(*first),
            None => {
                self.first_row.insert(key, row);
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_key_reports_its_first_row() {
        let mut rows = FirstRows::default();
        assert_eq!(rows.first_seen("A", 1), None);
        assert_eq!(rows.first_seen("B", 2), None);
        assert_eq!(rows.first_seen("A", 3), Some(1));
        assert_eq!(rows.first_seen("A", 4), Some(1));
    }
}
