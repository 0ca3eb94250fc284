//! Cross-site request forgery: browsers attach cookies to requests any page makes,
//! so a token taken from a cookie proves nothing about who sent an unsafe request.
//! Such a request passes only when its `Origin` (or, failing that, its `Referer`)
//! is an allowed origin, or when it carries a custom header that a cross-site form
//! cannot set. Tokens from headers need no check: a page cannot attach them itself.

use http::Method;
use http::header::{self, HeaderMap, HeaderName};

use crate::extract;

/// Which cookie-authenticated unsafe requests may pass.
///
/// The default allows none: a layer that reads tokens from a cookie refuses every
/// `POST`, `PUT`, `PATCH` and `DELETE` authenticated by it until origins or a header
/// are configured.
///
/// ```
/// use http::HeaderName;
/// use tower_bearer::CsrfPolicy;
///
/// let policy = CsrfPolicy::new()
///     .allow_origin("https://app.example")
///     .require_header(HeaderName::from_static("x-requested-with"));
/// # let _ = policy;
/// ```
#[derive(Clone, Debug, Default)]
pub struct CsrfPolicy {
    origins: Vec<String>,
    header: Option<HeaderName>,
}

impl CsrfPolicy {
    /// A policy that allows no cross-site request.
    pub fn new() -> Self {
        CsrfPolicy::default()
    }

    /// Allows requests whose `Origin` is `origin` (scheme, host and port, such as
    /// `https://app.example:8443`; compared without letter case, a trailing slash
    /// ignored).
    pub fn allow_origin(mut self, origin: impl Into<String>) -> Self {
        let mut origin = origin.into();
        while origin.ends_with('/') {
            origin.pop();
        }
        self.origins.push(origin);
        self
    }

    /// Allows requests carrying the header `name` with any non-empty value. Browsers
    /// refuse to send custom headers cross-site without a CORS preflight, so its
    /// presence shows the request came from a page that was allowed to send it.
    pub fn require_header(mut self, name: HeaderName) -> Self {
        self.header = Some(name);
        self
    }

    /// True when a request authenticated by a cookie may pass.
    pub(crate) fn allows(&self, method: &Method, headers: &HeaderMap) -> bool {
        if is_safe(method) {
            return true;
        }
        if let Some(name) = &self.header
            && extract::has_header(headers, name)
        {
            return true;
        }
        let origin = match headers.get(header::ORIGIN) {
            Some(origin) => origin.as_bytes(),
            None => match headers.get(header::REFERER) {
                Some(referer) => origin_of(referer.as_bytes()),
                None => return false,
            },
        };
        self.origins
            .iter()
            .any(|allowed| allowed.as_bytes().eq_ignore_ascii_case(origin))
    }
}

/// Methods that must not change state (RFC 9110 section 9.2.1). Everything else,
/// extension methods included, is checked.
fn is_safe(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    )
}

/// `scheme://host[:port]` of a URL, without the path.
fn origin_of(url: &[u8]) -> &[u8] {
    let Some(scheme_end) = url.windows(3).position(|w| w == b"://") else {
        return b"";
    };
    let authority_start = scheme_end + 3;
    let end = url[authority_start..]
        .iter()
        .position(|&b| matches!(b, b'/' | b'?' | b'#'))
        .map_or(url.len(), |at| authority_start + at);
    &url[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn safe_methods_always_pass() {
        assert!(CsrfPolicy::new().allows(&Method::GET, &HeaderMap::new()));
        assert!(!CsrfPolicy::new().allows(&Method::POST, &HeaderMap::new()));
    }

    #[test]
    fn origin_and_referer() {
        let policy = CsrfPolicy::new().allow_origin("https://app.example/");
        let ok = headers(&[("origin", "https://APP.example")]);
        assert!(policy.allows(&Method::DELETE, &ok));
        let evil = headers(&[("origin", "https://evil.example")]);
        assert!(!policy.allows(&Method::PUT, &evil));
        let referer = headers(&[("referer", "https://app.example/page?x=1")]);
        assert!(policy.allows(&Method::PATCH, &referer));
        let lookalike = headers(&[("referer", "https://app.example.evil.example/")]);
        assert!(!policy.allows(&Method::POST, &lookalike));
        // An Origin is authoritative: a matching Referer does not rescue it.
        let both = headers(&[("origin", "null"), ("referer", "https://app.example/")]);
        assert!(!policy.allows(&Method::POST, &both));
    }

    #[test]
    fn custom_header() {
        let policy = CsrfPolicy::new().require_header(HeaderName::from_static("x-csrf"));
        assert!(policy.allows(&Method::POST, &headers(&[("x-csrf", "1")])));
        assert!(!policy.allows(&Method::POST, &headers(&[("x-other", "1")])));
    }
}
