//! OAuth 2.0 scopes (RFC 6749 section 3.3) as a set, with granting and narrowing.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, LazyLock};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A set of scope tokens, such as `reports:read me:read`.
///
/// The set is kept in one canonical string: tokens sorted by their bytes, without
/// duplicates, joined by single spaces. Parsing a token that was minted here costs
/// one allocation, and two sets are equal exactly when their strings are.
///
/// Every token must match the RFC 6749 grammar `1*( %x21 / %x23-5B / %x5D-7E )`:
/// printable ASCII without space, `"` or `\`.
///
/// ```
/// use token_core::Scopes;
///
/// let granted: Scopes = "reports:read me:read".parse()?;
/// assert!(granted.contains("me:read"));
/// assert_eq!(granted.to_string(), "me:read reports:read");
///
/// // A client may ask for less than it holds, never for more.
/// let narrower = granted.narrow(&"me:read".parse()?)?;
/// assert_eq!(narrower.to_string(), "me:read");
/// assert!(granted.narrow(&"admin".parse()?).is_err());
/// # Ok::<(), token_core::ScopeError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Scopes {
    // Shared so that cloning claims never copies the text.
    canonical: Arc<str>,
}

/// Why a scope string or a scope request was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScopeError {
    /// A scope token holds a character outside the RFC 6749 grammar.
    #[error("scope contains a character outside the RFC 6749 scope syntax")]
    InvalidCharacter,
    /// A request named a scope outside the set it may draw from.
    #[error("requested scope exceeds the granted scope")]
    Widening,
}

/// True for the bytes RFC 6749 allows inside a scope token.
const fn is_scope_byte(b: u8) -> bool {
    matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E)
}

impl Scopes {
    /// The empty set.
    pub fn empty() -> Self {
        // One shared empty set: tokens without scope allocate nothing.
        static EMPTY: LazyLock<Arc<str>> = LazyLock::new(|| Arc::from(""));
        Scopes {
            canonical: Arc::clone(&EMPTY),
        }
    }

    /// Parses a space-separated scope string. Runs of spaces are accepted as one
    /// separator; any other character outside the scope syntax is an error.
    pub fn parse(input: &str) -> Result<Self, ScopeError> {
        if input.is_empty() {
            return Ok(Scopes::empty());
        }
        if is_canonical(input)? {
            return Ok(Scopes {
                canonical: input.into(),
            });
        }
        Ok(Self::normalise(input))
    }

    /// Sorts and deduplicates a valid but non-canonical scope string.
    fn normalise(input: &str) -> Self {
        let mut tokens: Vec<&str> = input.split(' ').filter(|t| !t.is_empty()).collect();
        Self::from_sorted_tokens(&mut tokens)
    }

    /// Builds a set from individual tokens, checking each.
    ///
    /// ```
    /// use token_core::Scopes;
    /// let scopes = Scopes::from_tokens(["b", "a", "b"])?;
    /// assert_eq!(scopes.to_string(), "a b");
    /// # Ok::<(), token_core::ScopeError>(())
    /// ```
    pub fn from_tokens<I, S>(tokens: I) -> Result<Self, ScopeError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let owned: Vec<S> = tokens.into_iter().collect();
        let mut refs = Vec::with_capacity(owned.len());
        for token in &owned {
            let token = token.as_ref();
            if token.is_empty() || !token.bytes().all(is_scope_byte) {
                return Err(ScopeError::InvalidCharacter);
            }
            refs.push(token);
        }
        Ok(Self::from_sorted_tokens(&mut refs))
    }

    /// Sorts, deduplicates and joins already-validated tokens.
    fn from_sorted_tokens(tokens: &mut Vec<&str>) -> Self {
        tokens.sort_unstable();
        tokens.dedup();
        Scopes {
            canonical: tokens.join(" ").into(),
        }
    }

    /// Joins tokens that are already sorted, unique and valid.
    fn from_canonical_iter<'a>(tokens: impl Iterator<Item = &'a str>) -> Self {
        let mut out = String::new();
        for token in tokens {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(token);
        }
        Scopes {
            canonical: out.into(),
        }
    }

    /// The canonical space-separated form, as it appears in a token's `scope` claim.
    pub fn as_str(&self) -> &str {
        &self.canonical
    }

    /// The tokens in sorted order.
    pub fn iter(&self) -> impl Iterator<Item = &str> + '_ {
        self.canonical.split(' ').filter(|t| !t.is_empty())
    }

    /// The number of tokens.
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// True when the set holds no token.
    pub fn is_empty(&self) -> bool {
        self.canonical.is_empty()
    }

    /// True when `scope` is in the set.
    pub fn contains(&self, scope: &str) -> bool {
        self.iter().any(|t| t == scope)
    }

    /// True when every token of `self` is also in `other`.
    pub fn is_subset(&self, other: &Scopes) -> bool {
        let mut theirs = other.iter().peekable();
        'ours: for mine in self.iter() {
            while let Some(&candidate) = theirs.peek() {
                match candidate.cmp(mine) {
                    Ordering::Less => {
                        theirs.next();
                    }
                    Ordering::Equal => {
                        theirs.next();
                        continue 'ours;
                    }
                    Ordering::Greater => return false,
                }
            }
            return false;
        }
        true
    }

    /// True when every token of `other` is also in `self`.
    pub fn is_superset(&self, other: &Scopes) -> bool {
        other.is_subset(self)
    }

    /// The tokens in both sets.
    pub fn intersection(&self, other: &Scopes) -> Scopes {
        if self.is_subset(other) {
            return self.clone();
        }
        Self::from_canonical_iter(merge(self, other).filter_map(|m| match m {
            Merged::Both(t) => Some(t),
            _ => None,
        }))
    }

    /// The tokens in either set.
    pub fn union(&self, other: &Scopes) -> Scopes {
        Self::from_canonical_iter(merge(self, other).map(Merged::token))
    }

    /// The tokens of `self` that are not in `other`.
    pub fn difference(&self, other: &Scopes) -> Scopes {
        Self::from_canonical_iter(merge(self, other).filter_map(|m| match m {
            Merged::Left(t) => Some(t),
            _ => None,
        }))
    }

    /// What an issuer grants for a request: an empty request gets `default`, and the
    /// result is always cut down to `ceiling`. Tokens outside the ceiling are dropped
    /// rather than refused, as RFC 6749 section 3.3 permits; the issued set is echoed.
    ///
    /// ```
    /// use token_core::Scopes;
    /// let ceiling: Scopes = "me:read reports:read".parse()?;
    /// let default: Scopes = "me:read".parse()?;
    ///
    /// assert_eq!(Scopes::grant(&Scopes::empty(), &default, &ceiling).as_str(), "me:read");
    /// let wide: Scopes = "reports:read admin".parse()?;
    /// assert_eq!(Scopes::grant(&wide, &default, &ceiling).as_str(), "reports:read");
    /// # Ok::<(), token_core::ScopeError>(())
    /// ```
    pub fn grant(requested: &Scopes, default: &Scopes, ceiling: &Scopes) -> Scopes {
        let wanted = if requested.is_empty() {
            default
        } else {
            requested
        };
        wanted.intersection(ceiling)
    }

    /// Narrows `self` to `requested`: an empty request keeps `self`; a request that
    /// names anything outside `self` is [`ScopeError::Widening`]. A holder can give up
    /// authority this way but never gain it.
    pub fn narrow(&self, requested: &Scopes) -> Result<Scopes, ScopeError> {
        if requested.is_empty() {
            Ok(self.clone())
        } else if requested.is_subset(self) {
            Ok(requested.clone())
        } else {
            Err(ScopeError::Widening)
        }
    }
}

/// Checks every character, and tells whether `input` is already sorted, unique and
/// single-spaced (the way this crate prints scopes) so parsing can keep it as it is.
/// One pass: this runs on every verified token.
fn is_canonical(input: &str) -> Result<bool, ScopeError> {
    let bytes = input.as_bytes();
    let mut canonical = true;
    let mut previous: &[u8] = &[];
    let mut start = 0;
    for (at, &b) in bytes.iter().enumerate() {
        if b == b' ' {
            let token = &bytes[start..at];
            // An empty token is a leading, trailing or doubled space.
            canonical &= !token.is_empty() && previous < token;
            previous = token;
            start = at + 1;
        } else if !is_scope_byte(b) {
            return Err(ScopeError::InvalidCharacter);
        }
    }
    let last = &bytes[start..];
    if !bytes.is_empty() {
        canonical &= !last.is_empty() && previous < last;
    }
    Ok(canonical)
}

/// One step of a sorted merge of two scope sets.
enum Merged<'a> {
    Left(&'a str),
    Right(&'a str),
    Both(&'a str),
}

impl<'a> Merged<'a> {
    fn token(self) -> &'a str {
        match self {
            Merged::Left(t) | Merged::Right(t) | Merged::Both(t) => t,
        }
    }
}

/// Walks two sorted sets together, telling for each token which side holds it.
fn merge<'a>(left: &'a Scopes, right: &'a Scopes) -> impl Iterator<Item = Merged<'a>> + 'a {
    let mut l = left.iter().peekable();
    let mut r = right.iter().peekable();
    std::iter::from_fn(move || match (l.peek(), r.peek()) {
        (Some(&a), Some(&b)) => match a.cmp(b) {
            Ordering::Less => l.next().map(Merged::Left),
            Ordering::Greater => r.next().map(Merged::Right),
            Ordering::Equal => {
                r.next();
                l.next().map(Merged::Both)
            }
        },
        (Some(_), None) => l.next().map(Merged::Left),
        (None, Some(_)) => r.next().map(Merged::Right),
        (None, None) => None,
    })
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.canonical)
    }
}

impl fmt::Debug for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl FromStr for Scopes {
    type Err = ScopeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scopes::parse(s)
    }
}

impl Default for Scopes {
    fn default() -> Self {
        Scopes::empty()
    }
}

impl Serialize for Scopes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.canonical)
    }
}

impl<'de> Deserialize<'de> for Scopes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Scopes::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(text: &str) -> Scopes {
        text.parse().unwrap()
    }

    #[test]
    fn parse_sorts_and_deduplicates() {
        assert_eq!(s("b a  b ").as_str(), "a b");
        assert_eq!(s("").len(), 0);
        assert_eq!(s("   ").as_str(), "");
    }

    #[test]
    fn rejects_characters_outside_the_grammar() {
        for bad in ["a\"b", "a\\b", "a\tb", "caf\u{e9}", "a\nb", "\u{7f}"] {
            assert_eq!(
                Scopes::parse(bad),
                Err(ScopeError::InvalidCharacter),
                "{bad:?}"
            );
        }
        assert_eq!(
            Scopes::from_tokens(["ok", ""]),
            Err(ScopeError::InvalidCharacter)
        );
        assert_eq!(
            Scopes::from_tokens(["a b"]),
            Err(ScopeError::InvalidCharacter)
        );
    }

    #[test]
    fn accepts_every_allowed_byte() {
        let all: String = (0x21u8..=0x7e)
            .filter(|b| *b != b'"' && *b != b'\\')
            .map(char::from)
            .collect();
        assert_eq!(s(&all).len(), 1);
    }

    #[test]
    fn set_operations() {
        let ab = s("a b");
        let bc = s("b c");
        assert_eq!(ab.intersection(&bc), s("b"));
        assert_eq!(ab.union(&bc), s("a b c"));
        assert_eq!(ab.difference(&bc), s("a"));
        assert!(s("a").is_subset(&ab));
        assert!(!ab.is_subset(&bc));
        assert!(Scopes::empty().is_subset(&Scopes::empty()));
        assert!(ab.is_superset(&s("b")));
    }

    #[test]
    fn grant_uses_default_only_for_empty_requests() {
        let ceiling = s("a b c");
        let default = s("a");
        assert_eq!(Scopes::grant(&s(""), &default, &ceiling), s("a"));
        assert_eq!(Scopes::grant(&s("b z"), &default, &ceiling), s("b"));
        // A default wider than the ceiling is cut down as well.
        assert_eq!(Scopes::grant(&s(""), &s("a z"), &ceiling), s("a"));
    }

    #[test]
    fn narrow_refuses_to_widen() {
        let held = s("a b");
        assert_eq!(held.narrow(&s("")), Ok(held.clone()));
        assert_eq!(held.narrow(&s("a")), Ok(s("a")));
        assert_eq!(held.narrow(&s("a c")), Err(ScopeError::Widening));
    }

    #[test]
    fn serde_as_a_string() {
        let json = serde_json::to_string(&s("b a")).unwrap();
        assert_eq!(json, "\"a b\"");
        let back: Scopes = serde_json::from_str("\"z y\"").unwrap();
        assert_eq!(back, s("y z"));
        assert!(serde_json::from_str::<Scopes>("\"a\\\"b\"").is_err());
        assert!(serde_json::from_str::<Scopes>("[\"a\"]").is_err());
    }
}
