//! Property tests: the scope grammar round-trips, and no operation a holder can
//! perform ever widens authority.

// Tests state their expectations with unwrap: a failure is the test failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use token_core::{ScopeError, Scopes};

/// One RFC 6749 scope token: printable ASCII without space, `"` or `\`.
fn token() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[!#-\\[\\]-~]{1,12}").unwrap()
}

/// A set drawn from a small alphabet, so sets overlap often.
fn small_set() -> impl Strategy<Value = Scopes> {
    proptest::collection::vec(prop_oneof!["a", "b", "c", "d", "e", "read", "write"], 0..6)
        .prop_map(|tokens| Scopes::from_tokens(tokens).unwrap())
}

proptest! {
    #[test]
    fn printing_then_parsing_gives_the_same_set(tokens in proptest::collection::vec(token(), 0..8)) {
        let scopes = Scopes::from_tokens(&tokens).unwrap();
        let printed = scopes.to_string();
        prop_assert_eq!(printed.parse::<Scopes>().unwrap(), scopes.clone());
        // Every token survives, and nothing else appears.
        for t in &tokens {
            prop_assert!(scopes.contains(t));
        }
        prop_assert!(scopes.iter().all(|t| tokens.iter().any(|x| x == t)));
    }

    #[test]
    fn parsing_is_canonical_whatever_the_spacing(tokens in proptest::collection::vec(token(), 0..8), gaps in proptest::collection::vec(1usize..4, 0..9)) {
        let mut text = String::new();
        for (i, t) in tokens.iter().enumerate() {
            text.push_str(&" ".repeat(gaps.get(i).copied().unwrap_or(1)));
            text.push_str(t);
        }
        let parsed: Scopes = text.parse().unwrap();
        let reparsed: Scopes = parsed.as_str().parse().unwrap();
        prop_assert_eq!(parsed.as_str(), reparsed.as_str());
        prop_assert!(!parsed.as_str().contains("  "));
    }

    #[test]
    fn a_forbidden_character_is_always_refused(prefix in token(), bad in prop_oneof!["\"", "\\\\", "\t", "\n", "\u{7f}", "\u{e9}", "\u{0}"], suffix in token()) {
        let text = format!("{prefix}{bad}{suffix}");
        prop_assert_eq!(text.parse::<Scopes>(), Err(ScopeError::InvalidCharacter));
    }

    #[test]
    fn grant_never_exceeds_the_ceiling(requested in small_set(), default in small_set(), ceiling in small_set()) {
        let granted = Scopes::grant(&requested, &default, &ceiling);
        prop_assert!(granted.is_subset(&ceiling));
        let asked = if requested.is_empty() { &default } else { &requested };
        prop_assert!(granted.is_subset(asked));
        // Granting again from what was granted changes nothing.
        prop_assert_eq!(Scopes::grant(&granted, &default, &ceiling), if granted.is_empty() { default.intersection(&ceiling) } else { granted.clone() });
    }

    #[test]
    fn narrowing_never_widens(held in small_set(), requested in small_set()) {
        match held.narrow(&requested) {
            Ok(narrowed) => {
                prop_assert!(narrowed.is_subset(&held));
                if !requested.is_empty() {
                    prop_assert_eq!(&narrowed, &requested);
                }
            }
            Err(err) => {
                prop_assert_eq!(err, ScopeError::Widening);
                prop_assert!(!requested.is_subset(&held));
            }
        }
    }

    #[test]
    fn a_chain_of_narrowings_stays_within_the_first_grant(start in small_set(), steps in proptest::collection::vec(small_set(), 0..6)) {
        let mut held = start.clone();
        for step in steps {
            if let Ok(next) = held.narrow(&step) {
                held = next;
            }
            prop_assert!(held.is_subset(&start));
        }
    }

    #[test]
    fn set_operations_agree_with_membership(a in small_set(), b in small_set()) {
        let both = a.intersection(&b);
        let either = a.union(&b);
        let only_a = a.difference(&b);
        for t in ["a", "b", "c", "d", "e", "read", "write"] {
            prop_assert_eq!(both.contains(t), a.contains(t) && b.contains(t));
            prop_assert_eq!(either.contains(t), a.contains(t) || b.contains(t));
            prop_assert_eq!(only_a.contains(t), a.contains(t) && !b.contains(t));
        }
        prop_assert_eq!(a.is_subset(&b), a.iter().all(|t| b.contains(t)));
    }
}
