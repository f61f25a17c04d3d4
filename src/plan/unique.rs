//! Unique attribute values (account names, addresses): the first free candidate, else
//! the first candidate with a number (2, 3, ...) fitted within the maximum length.
//! Values are compared case-insensitively, as AD and Exchange do.

use crate::rules::eval::UniqueCandidates;
use std::collections::HashSet;

/// Numbers tried after the candidates run out, before giving up.
const MAX_SUFFIX: u32 = 9999;

/// Values in use for one attribute of one target.
#[derive(Debug, Default)]
pub struct Taken(HashSet<String>);

impl Taken {
    /// Marks a value as used.
    pub fn insert(&mut self, value: &str) {
        self.0.insert(value.to_lowercase());
    }

    fn is_free(&self, value: &str) -> bool {
        !self.0.contains(&value.to_lowercase())
    }

    /// Picks the first free value and marks it used. `None` when no candidate could be
    /// computed or every number up to 9999 is taken.
    pub fn assign(&mut self, c: &UniqueCandidates) -> Option<String> {
        for cand in &c.candidates {
            let v = format!("{cand}{}", c.ending);
            if self.is_free(&v) {
                self.insert(&v);
                return Some(v);
            }
        }
        let first = c.candidates.first()?;
        for n in 2..=MAX_SUFFIX {
            let digits = n.to_string();
            let room = c.max.map_or(usize::MAX, |m| m.saturating_sub(digits.len()));
            if room == 0 {
                return None;
            }
            let base: String = first.chars().take(room).collect();
            let v = format!("{base}{digits}{}", c.ending);
            if self.is_free(&v) {
                self.insert(&v);
                return Some(v);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cands(list: &[&str], max: Option<usize>, ending: &str) -> UniqueCandidates {
        UniqueCandidates {
            candidates: list.iter().map(|s| s.to_string()).collect(),
            max,
            ending: ending.into(),
        }
    }

    #[test]
    fn candidates_then_numbers_within_max_length() {
        let mut t = Taken::default();
        t.insert("JBERG");
        let c = cands(&["jberg", "janb"], Some(5), "");
        assert_eq!(t.assign(&c).as_deref(), Some("janb"));
        assert_eq!(t.assign(&c).as_deref(), Some("jber2"));
        assert_eq!(t.assign(&c).as_deref(), Some("jber3"));
    }

    #[test]
    fn ending_is_outside_the_length_limit() {
        let mut t = Taken::default();
        let c = cands(&["jan.berg"], Some(8), "@acme.nl");
        assert_eq!(t.assign(&c).as_deref(), Some("jan.berg@acme.nl"));
        assert_eq!(t.assign(&c).as_deref(), Some("jan.ber2@acme.nl"));
    }

    #[test]
    fn no_candidates_gives_none() {
        assert_eq!(Taken::default().assign(&cands(&[], Some(5), "")), None);
    }
}
