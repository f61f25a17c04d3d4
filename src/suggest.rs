//! "Did you mean ...?": the closest known name to a misspelt one, for diagnostics,
//! unknown fields in data files and unknown target parameters alike.

/// The closest candidate to `name` by edit distance, if it is close enough to be a
/// likely typo.
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    /// Longer names are not typos of anything; comparing them would cost the product of
    /// the lengths (found by fuzzing: two 100,000-character names took seconds).
    const LONGEST_TYPO: usize = 64;
    let n = name.chars().count();
    let limit = (n / 3).max(1);
    let lower = name.to_lowercase();
    let candidates: Vec<&str> = candidates.into_iter().collect();
    let close = candidates
        .iter()
        .filter(|c| n <= LONGEST_TYPO && c.chars().count().abs_diff(n) <= limit)
        .map(|c| (edit_distance(&lower, &c.to_lowercase()), *c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, c)| (*d, *c))
        .map(|(_, c)| c);
    // Otherwise a name inside the other (`uppercase` for `upper`, `dept` for
    // `department`), the longest first.
    close.or_else(|| {
        candidates
            .iter()
            .filter(|c| {
                let c = c.to_lowercase();
                c.len() >= 3 && lower.len() >= 3 && (lower.contains(&c) || c.contains(&lower))
            })
            .max_by_key(|c| (c.len(), std::cmp::Reverse(**c)))
            .copied()
    })
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_names_are_not_compared_letter_by_letter() {
        let a = "x".repeat(100_000);
        let b = format!("{}y", "x".repeat(99_999));
        // Without the length cap this is 10^10 steps; with it, none.
        assert_eq!(did_you_mean(&a, [b.as_str()]), None);
        assert_eq!(did_you_mean("uppercase", ["upper", "lower"]), Some("upper"));
    }

    #[test]
    fn suggests_close_names_only() {
        let names = ["department", "function", "cost_center"];
        assert_eq!(did_you_mean("departmnet", names), Some("department"));
        assert_eq!(did_you_mean("fucntion", names), Some("function"));
        assert_eq!(did_you_mean("salary", names), None);
    }
}
