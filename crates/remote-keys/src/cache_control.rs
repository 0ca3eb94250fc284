//! How long a fetched document may be used, from `Cache-Control` and `Age`
//! (RFC 9111 sections 4.2.1, 5.1 and 5.2.2).

use std::time::Duration;

use http::HeaderMap;
use http::header::{AGE, CACHE_CONTROL};

/// The document's freshness lifetime as the server states it, less its `Age`:
/// `max-age`, or zero for `no-cache` and `no-store`. `None` when the server says
/// nothing usable (the caller's default applies). Two `max-age`s take the smaller.
pub(crate) fn freshness(headers: &HeaderMap) -> Option<Duration> {
    let mut lifetime: Option<u64> = None;
    for value in headers.get_all(CACHE_CONTROL) {
        let Ok(value) = value.to_str() else { continue };
        for directive in value.split(',') {
            let directive = directive.trim();
            let (name, argument) = match directive.split_once('=') {
                Some((name, argument)) => (name.trim(), Some(argument.trim())),
                None => (directive, None),
            };
            let seconds = if name.eq_ignore_ascii_case("max-age") {
                match argument.and_then(delta_seconds) {
                    Some(seconds) => seconds,
                    None => continue,
                }
            } else if name.eq_ignore_ascii_case("no-cache") || name.eq_ignore_ascii_case("no-store")
            {
                0
            } else {
                continue;
            };
            lifetime = Some(lifetime.map_or(seconds, |l| l.min(seconds)));
        }
    }
    let age = headers
        .get(AGE)
        .and_then(|v| v.to_str().ok())
        .and_then(delta_seconds)
        .unwrap_or(0);
    lifetime.map(|l| Duration::from_secs(l.saturating_sub(age)))
}

/// A non-negative integer of seconds, possibly quoted; huge values saturate.
fn delta_seconds(text: &str) -> Option<u64> {
    let text = text.trim();
    let text = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(text);
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(text.parse::<u64>().unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn of(cache_control: &[&str], age: Option<&str>) -> Option<Duration> {
        let mut headers = HeaderMap::new();
        for v in cache_control {
            headers.append(CACHE_CONTROL, HeaderValue::from_str(v).unwrap());
        }
        if let Some(age) = age {
            headers.insert(AGE, HeaderValue::from_str(age).unwrap());
        }
        freshness(&headers)
    }

    #[test]
    fn max_age_is_read_among_other_directives() {
        assert_eq!(
            of(&["public, max-age=300"], None),
            Some(Duration::from_secs(300))
        );
        assert_eq!(
            of(&["Max-Age=60, must-revalidate"], None),
            Some(Duration::from_secs(60))
        );
        assert_eq!(of(&["max-age=\"90\""], None), Some(Duration::from_secs(90)));
        assert_eq!(
            of(&["public", "max-age=5"], None),
            Some(Duration::from_secs(5))
        );
    }

    #[test]
    fn age_is_subtracted() {
        assert_eq!(
            of(&["max-age=300"], Some("100")),
            Some(Duration::from_secs(200))
        );
        assert_eq!(of(&["max-age=300"], Some("400")), Some(Duration::ZERO));
        assert_eq!(
            of(&["max-age=300"], Some("junk")),
            Some(Duration::from_secs(300))
        );
    }

    #[test]
    fn no_cache_and_no_store_mean_zero() {
        assert_eq!(of(&["no-cache"], None), Some(Duration::ZERO));
        assert_eq!(of(&["max-age=600, no-store"], None), Some(Duration::ZERO));
    }

    #[test]
    fn nothing_usable_means_none() {
        assert_eq!(of(&[], None), None);
        assert_eq!(of(&["public"], None), None);
        assert_eq!(of(&["max-age=-1"], None), None);
        assert_eq!(of(&["max-age=1.5"], None), None);
        assert_eq!(of(&["max-age="], None), None);
        assert_eq!(of(&["s-maxage=60"], None), None);
    }

    #[test]
    fn two_max_ages_take_the_smaller_and_huge_ones_saturate() {
        assert_eq!(
            of(&["max-age=600", "max-age=60"], None),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            of(&["max-age=99999999999999999999999"], None),
            Some(Duration::from_secs(u64::MAX))
        );
    }
}
