//! WQL's LIKE: `%`, `_`, `[...]` classes (`[^...]` negated, `a-z` ranges; `[%]` a literal `%`),
//! without case, matched in at most pattern x subject steps counted in a [`Budget`].

use crate::budget::{Budget, Expired};

/// One element of a LIKE pattern.
#[derive(Debug)]
enum Piece {
    Any,
    One,
    Char(char),
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

fn pieces(pattern: &str) -> Vec<Piece> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '%' => out.push(Piece::Any),
            '_' => out.push(Piece::One),
            '[' => {
                let close = chars[i + 1..].iter().position(|&c| c == ']');
                match close {
                    Some(len) if len > 0 => {
                        let body = &chars[i + 1..i + 1 + len];
                        let (negated, body) = match body.first() {
                            Some('^') => (true, &body[1..]),
                            _ => (false, body),
                        };
                        let mut ranges = Vec::new();
                        let mut j = 0;
                        while j < body.len() {
                            if j + 2 < body.len() && body[j + 1] == '-' {
                                ranges.push((lower(body[j]), lower(body[j + 2])));
                                j += 3;
                            } else {
                                ranges.push((lower(body[j]), lower(body[j])));
                                j += 1;
                            }
                        }
                        out.push(Piece::Class { negated, ranges });
                        i += len + 1;
                    }
                    _ => out.push(Piece::Char('[')),
                }
            }
            c => out.push(Piece::Char(lower(c))),
        }
        i += 1;
    }
    out
}

fn lower(c: char) -> char {
    c.to_lowercase().next().unwrap_or(c)
}

/// Longest subject (in characters) LIKE matches: a longer property value makes the condition
/// unknown (as NULL does), so no value a host holds (a 2 MB command line) is copied and matched
/// whole for every instance of every request.
pub const MAX_LIKE_SUBJECT: usize = 64 * 1024;

impl Piece {
    /// Steps one comparison costs: a class checks each of its ranges, and a range takes at least
    /// one character of the pattern, so a pattern's steps per subject character are at most its
    /// length.
    fn cost(&self) -> u64 {
        match self {
            Self::Class { ranges, .. } => ranges.len().max(1) as u64,
            _ => 1,
        }
    }

    fn accepts(&self, c: char) -> bool {
        match self {
            Self::Any | Self::One => true,
            Self::Char(p) => *p == c,
            Self::Class { negated, ranges } => {
                ranges.iter().any(|(a, b)| (*a..=*b).contains(&c)) != *negated
            }
        }
    }
}

/// `text LIKE pattern`, without case, with no bound on the work (see [`like_within`]).
pub fn like(text: &str, pattern: &str) -> bool {
    like_within(text, pattern, &mut Budget::unlimited()) == Ok(Some(true))
}

/// `text LIKE pattern`, without case, counting its steps in `budget`: at most
/// (pattern length + 1) x (text length + 1), whatever the `%` runs, because each `%`-separated
/// segment is matched at its leftmost place and never revisited (a later segment found further
/// right can always use a leftmost earlier one). `Ok(None)`: the text is longer than
/// [`MAX_LIKE_SUBJECT`] (unknown).
pub fn like_within(
    text: &str,
    pattern: &str,
    budget: &mut Budget,
) -> Result<Option<bool>, Expired> {
    if text.len() > MAX_LIKE_SUBJECT * 4 || text.chars().nth(MAX_LIKE_SUBJECT).is_some() {
        return Ok(None);
    }
    let text: Vec<char> = text.chars().map(lower).collect();
    let pattern = pieces(pattern);
    budget.spend((text.len() + pattern.len()) as u64)?;
    like_pieces(&text, &pattern, budget).map(Some)
}

fn like_pieces(text: &[char], pattern: &[Piece], budget: &mut Budget) -> Result<bool, Expired> {
    let mut segments = pattern.split(|p| matches!(p, Piece::Any));
    let first = segments.next().unwrap_or(&[]);
    let rest: Vec<&[Piece]> = segments.collect();
    let Some((last, middle)) = rest.split_last() else {
        // No `%`: the text is exactly as long as the pattern.
        return Ok(first.len() == text.len() && segment_at(first, text, 0, budget)?);
    };
    if first.len() + last.len() > text.len() {
        return Ok(false);
    }
    let end = text.len() - last.len();
    if !segment_at(first, text, 0, budget)? || !segment_at(last, text, end, budget)? {
        return Ok(false);
    }
    let mut at = first.len();
    for segment in middle.iter().filter(|s| !s.is_empty()) {
        loop {
            budget.spend(1)?;
            if at + segment.len() > end {
                return Ok(false);
            }
            if segment_at(segment, text, at, budget)? {
                at += segment.len();
                break;
            }
            at += 1;
        }
    }
    Ok(true)
}

/// Whether `segment` (no `%` in it) matches `text` from `at` (the caller checked it fits).
fn segment_at(
    segment: &[Piece],
    text: &[char],
    at: usize,
    budget: &mut Budget,
) -> Result<bool, Expired> {
    for (piece, c) in segment.iter().zip(&text[at..]) {
        budget.spend(piece.cost())?;
        if !piece.accepts(*c) {
            return Ok(false);
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn like_classes_and_wildcards() {
        assert!(like("abc", "a%"));
        assert!(like("ABC", "a_c"));
        assert!(like("", "%"));
        assert!(!like("", "_"));
        assert!(like("b1", "[a-c][0-9]"));
        assert!(!like("d1", "[a-c][0-9]"));
        assert!(like("[x", "[x"));
        assert!(like("aaaaaaaaaaaaaaaaaaaaaaaaaaaaab", "%a%a%a%a%a%a%a%b"));
    }

    /// A naive backtracking LIKE, the reference the dynamic program is checked against.
    fn like_naive(t: &[char], p: &[char]) -> bool {
        match p.first() {
            None => t.is_empty(),
            Some('%') => (0..=t.len()).any(|i| like_naive(&t[i..], &p[1..])),
            Some('_') => !t.is_empty() && like_naive(&t[1..], &p[1..]),
            Some(c) => t.first() == Some(c) && like_naive(&t[1..], &p[1..]),
        }
    }

    /// The naive backtracking over parsed pieces (classes too): exponential, but the reference.
    fn like_naive_pieces(t: &[char], p: &[Piece]) -> bool {
        match p.first() {
            None => t.is_empty(),
            Some(Piece::Any) => (0..=t.len()).any(|i| like_naive_pieces(&t[i..], &p[1..])),
            Some(piece) => {
                t.first().is_some_and(|c| piece.accepts(*c)) && like_naive_pieces(&t[1..], &p[1..])
            }
        }
    }

    fn steps_of(text: &str, pattern: &str) -> (u64, u64) {
        let mut budget = Budget::unlimited();
        let _ = like_within(text, pattern, &mut budget);
        let bound = 2 * (pattern.chars().count() as u64 + 1) * (text.chars().count() as u64 + 1);
        (budget.steps(), bound)
    }

    /// Patterns that cost backtracking 2^n (n `%a` runs, then what the text lacks) and the
    /// greedy search its worst (a segment that fails at its last piece at every place).
    #[test]
    fn percent_runs_cost_pattern_times_subject_steps() {
        let text = "a".repeat(4000);
        for pattern in [
            format!("{}b", "%a".repeat(40)),
            format!("{}c%", "%a".repeat(40)),
            format!("%{}b%", "a".repeat(40)),
        ] {
            let (steps, bound) = steps_of(&text, &pattern);
            assert!(!like(&text, &pattern));
            assert!(steps <= bound, "{pattern}: {steps} steps > {bound}");
        }
        let pattern = format!("{}%", "%a".repeat(40));
        assert!(like(&text, &pattern));
    }

    fn pattern_strategy() -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop_oneof!["a", "b", "%", "_", "[a-b]", "[^a]", "[b]", "[%]", "[_]"],
            0..10,
        )
        .prop_map(|parts| parts.concat())
    }

    proptest! {
        #[test]
        fn like_agrees_with_backtracking(t in "[ab]{0,8}", p in "[ab%_]{0,6}") {
            let tc: Vec<char> = t.chars().collect();
            let pc: Vec<char> = p.chars().collect();
            prop_assert_eq!(like(&t, &p), like_naive(&tc, &pc));
        }

        #[test]
        fn like_agrees_with_backtracking_over_classes(
            t in "[abAB%_]{0,10}",
            p in pattern_strategy(),
        ) {
            let tc: Vec<char> = t.chars().map(lower).collect();
            prop_assert_eq!(like(&t, &p), like_naive_pieces(&tc, &pieces(&p)));
        }

        /// LIKE's step count grows at most with pattern x subject length, whatever the
        /// pattern (counted steps, not time).
        #[test]
        fn like_steps_grow_with_pattern_times_subject(
            t in "[ab]{0,400}",
            p in prop_oneof![
                pattern_strategy(),
                "[ab%_]{0,60}",
                (1usize..30).prop_map(|n| format!("{}b", "%a".repeat(n))),
                (1usize..30).prop_map(|n| format!("{}c%", "%a".repeat(n))),
                (1usize..30).prop_map(|n| format!("%{}b%", "a".repeat(n))),
                (1usize..30).prop_map(|n| format!("{}[^a]%", "%[a-b]_".repeat(n))),
            ],
        ) {
            let (steps, bound) = steps_of(&t, &p);
            prop_assert!(steps <= bound, "{} steps > {}", steps, bound);
        }
    }
}
