//! A contact search as users type it: part of a name or part of a number. Parsed at
//! the edge into the two patterns the store matches, so the store never sees raw input.

/// Longest search text accepted, in characters.
pub const MAX_SEARCH_CHARS: usize = 100;

/// What a search term says: a piece of a name (any case), and, when the term holds at
/// least three digits and nothing but digits and the usual phone punctuation
/// (`+ ( ) - . /` and spaces), a piece of a number or LID. `ada` finds "Ada Demo";
/// `+1 555-0100` finds every number holding `15550100`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactSearch {
    /// Lowercased term, matched inside names (ASCII case-insensitive, as SQLite's `lower`).
    text: String,
    /// The term's digits, matched inside numbers and LIDs; `None` for a name-only term.
    digits: Option<String>,
}

/// Why a search term was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SearchError {
    #[error("search must not be empty")]
    Empty,
    #[error("search must be at most {MAX_SEARCH_CHARS} characters")]
    TooLong,
}

impl SearchError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Empty => "empty_search",
            Self::TooLong => "search_too_long",
        }
    }
}

impl ContactSearch {
    /// Parses a term; surrounding whitespace is ignored, inner text kept as typed.
    pub fn parse(input: &str) -> Result<Self, SearchError> {
        let term = input.trim();
        if term.is_empty() {
            return Err(SearchError::Empty);
        }
        if term.chars().count() > MAX_SEARCH_CHARS {
            return Err(SearchError::TooLong);
        }
        let phone_like = term
            .chars()
            .all(|c| c.is_ascii_digit() || " +()-./".contains(c));
        let digits: String = term.chars().filter(char::is_ascii_digit).collect();
        Ok(Self {
            text: term.to_lowercase(),
            digits: (phone_like && digits.len() >= 3).then_some(digits),
        })
    }

    /// The lowercased term.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The term's digits when it reads as (part of) a number.
    pub fn digits(&self) -> Option<&str> {
        self.digits.as_deref()
    }
}

/// `%term%` for SQL `LIKE … ESCAPE '\'`: `%`, `_` and `\` in the term match themselves.
pub fn like_pattern(term: &str) -> String {
    let mut out = String::with_capacity(term.len() + 2);
    out.push('%');
    for c in term.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_lowercased_and_not_numbers() {
        let s = ContactSearch::parse("  Ada Demo ").unwrap();
        assert_eq!(s.text(), "ada demo");
        assert_eq!(s.digits(), None);
    }

    #[test]
    fn formatted_numbers_search_by_digits() {
        let s = ContactSearch::parse("+1 (555) 010-0").unwrap();
        assert_eq!(s.digits(), Some("15550100"));
        assert_eq!(ContactSearch::parse("55").unwrap().digits(), None);
        assert_eq!(ContactSearch::parse("agent 007").unwrap().digits(), None);
    }

    #[test]
    fn empty_and_long_terms_are_refused() {
        assert_eq!(ContactSearch::parse("  "), Err(SearchError::Empty));
        let long = "a".repeat(MAX_SEARCH_CHARS + 1);
        assert_eq!(ContactSearch::parse(&long), Err(SearchError::TooLong));
        assert!(ContactSearch::parse(&"é".repeat(MAX_SEARCH_CHARS)).is_ok());
    }

    #[test]
    fn like_wildcards_in_the_term_match_themselves() {
        assert_eq!(like_pattern("50%_a\\"), "%50\\%\\_a\\\\%");
    }
}
