//! Where keys come from: a JWKS URL, or an issuer resolved through discovery, and
//! which URLs the source may fetch.

use std::fmt;
use std::net::IpAddr;

use http::Uri;

use crate::error::Error;

/// The path OpenID Connect Discovery 1.0 (section 4) appends to the issuer.
pub const OIDC_WELL_KNOWN: &str = "/.well-known/openid-configuration";
/// The path RFC 8414 (section 3) inserts between the issuer's host and its path.
pub const OAUTH_WELL_KNOWN: &str = "/.well-known/oauth-authorization-server";

/// Where a [`RemoteKeys`](crate::RemoteKeys) takes its keys from.
///
/// ```
/// use remote_keys::Source;
///
/// // A JWKS document at a known URL.
/// let jwks = Source::jwks_url("https://auth.example/.well-known/jwks.json");
/// assert_eq!(jwks.issuer(), None);
///
/// // An issuer whose metadata names its `jwks_uri`: OpenID Connect discovery
/// // first, then the RFC 8414 document.
/// let discovered = Source::discovery("https://idp.example/tenants/acme");
/// assert_eq!(discovered.issuer(), Some("https://idp.example/tenants/acme"));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Source {
    kind: Kind,
}

#[derive(Clone, PartialEq, Eq)]
enum Kind {
    Jwks(String),
    Discovery { issuer: String, paths: Paths },
}

/// Which well-known documents discovery asks for, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Paths {
    Both,
    Oidc,
    Oauth,
}

impl Source {
    /// The JWKS document at `url` (`https`, or `http` to a loopback address).
    pub fn jwks_url(url: impl Into<String>) -> Self {
        Source {
            kind: Kind::Jwks(url.into()),
        }
    }

    /// The keys of `issuer`, found through its metadata: first
    /// `{issuer}/.well-known/openid-configuration` (OpenID Connect Discovery), and
    /// when that is not served, the RFC 8414 document
    /// `/.well-known/oauth-authorization-server{issuer path}`. The document's
    /// `issuer` must be exactly `issuer` (both specifications require it, so a
    /// document cannot point a verifier at another issuer's keys); its `jwks_uri`
    /// is where the keys are fetched. The `jwks_uri` found is reused until a fetch
    /// fails; the fetch after that discovers again.
    pub fn discovery(issuer: impl Into<String>) -> Self {
        Source::discovered(issuer, Paths::Both)
    }

    /// Like [`discovery`](Self::discovery), asking only for the OpenID Connect
    /// document.
    pub fn oidc_discovery(issuer: impl Into<String>) -> Self {
        Source::discovered(issuer, Paths::Oidc)
    }

    /// Like [`discovery`](Self::discovery), asking only for the RFC 8414
    /// authorization server metadata.
    pub fn oauth_metadata(issuer: impl Into<String>) -> Self {
        Source::discovered(issuer, Paths::Oauth)
    }

    fn discovered(issuer: impl Into<String>, paths: Paths) -> Self {
        Source {
            kind: Kind::Discovery {
                issuer: issuer.into(),
                paths,
            },
        }
    }

    /// The issuer, for sources resolved through discovery.
    pub fn issuer(&self) -> Option<&str> {
        match &self.kind {
            Kind::Jwks(_) => None,
            Kind::Discovery { issuer, .. } => Some(issuer),
        }
    }

    /// Checks the URLs and works out the documents to fetch.
    pub(crate) fn resolve(&self, allow_http: bool) -> Result<Resolved, Error> {
        match &self.kind {
            Kind::Jwks(url) => Ok(Resolved::Jwks(checked_url(url, allow_http)?)),
            Kind::Discovery { issuer, paths } => {
                let uri = checked_url(issuer, allow_http)?;
                if uri.query().is_some() {
                    return Err(Error::InvalidUrl {
                        url: issuer.clone(),
                        reason: "an issuer has no query component",
                    });
                }
                let oidc = || well_known_oidc(issuer);
                let oauth = || well_known_oauth(&uri);
                let documents = match paths {
                    Paths::Both => vec![oidc()?, oauth()?],
                    Paths::Oidc => vec![oidc()?],
                    Paths::Oauth => vec![oauth()?],
                };
                Ok(Resolved::Discovery {
                    issuer: issuer.clone(),
                    documents,
                })
            }
        }
    }
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Jwks(url) => f.debug_tuple("Source::JwksUrl").field(url).finish(),
            Kind::Discovery { issuer, paths } => f
                .debug_struct("Source::Discovery")
                .field("issuer", issuer)
                .field("paths", paths)
                .finish(),
        }
    }
}

/// A source whose URLs were checked.
#[derive(Clone, Debug)]
pub(crate) enum Resolved {
    Jwks(Uri),
    Discovery {
        issuer: String,
        /// The metadata documents to try, in order.
        documents: Vec<Uri>,
    },
}

/// `{issuer}/.well-known/openid-configuration`, a trailing `/` of the issuer
/// removed (OpenID Connect Discovery 1.0, section 4).
fn well_known_oidc(issuer: &str) -> Result<Uri, Error> {
    let url = format!("{}{OIDC_WELL_KNOWN}", issuer.trim_end_matches('/'));
    parse(&url)
}

/// `{scheme}://{authority}/.well-known/oauth-authorization-server{path}`, the
/// well-known segment inserted before the issuer's path (RFC 8414, section 3.1).
fn well_known_oauth(issuer: &Uri) -> Result<Uri, Error> {
    let (Some(scheme), Some(authority)) = (issuer.scheme_str(), issuer.authority()) else {
        return Err(Error::InvalidUrl {
            url: issuer.to_string(),
            reason: "an absolute URL is needed",
        });
    };
    let path = issuer.path().trim_end_matches('/');
    parse(&format!("{scheme}://{authority}{OAUTH_WELL_KNOWN}{path}"))
}

fn parse(url: &str) -> Result<Uri, Error> {
    url.parse::<Uri>().map_err(|_| Error::InvalidUrl {
        url: url.to_owned(),
        reason: "not a valid URL",
    })
}

/// Parses `url` and checks that the source may fetch it: an absolute `https` URL
/// (or `http` to a loopback host, or any `http` when allowed), with no credentials
/// in it.
pub(crate) fn checked_url(url: &str, allow_http: bool) -> Result<Uri, Error> {
    let uri = parse(url)?;
    let invalid = |reason| Error::InvalidUrl {
        url: url.to_owned(),
        reason,
    };
    let authority = uri
        .authority()
        .ok_or_else(|| invalid("an absolute URL is needed"))?;
    if authority.as_str().contains('@') {
        return Err(invalid("credentials in URLs are not supported"));
    }
    if authority.host().is_empty() {
        return Err(invalid("the URL has no host"));
    }
    match uri.scheme_str() {
        Some("https") => Ok(uri),
        Some("http") if allow_http || is_loopback(authority.host()) => Ok(uri),
        Some("http") => Err(Error::InsecureUrl(url.to_owned())),
        _ => Err(invalid(
            "only https (and http to loopback) URLs are fetched",
        )),
    }
}

/// `localhost`, `127.0.0.0/8` or `::1`: addresses no one else can answer for.
fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn documents(source: Source) -> Vec<String> {
        match source.resolve(false).unwrap() {
            Resolved::Discovery { documents, .. } => {
                documents.iter().map(ToString::to_string).collect()
            }
            Resolved::Jwks(_) => panic!("not a discovery source"),
        }
    }

    #[test]
    fn well_known_paths_of_an_issuer_without_a_path() {
        assert_eq!(
            documents(Source::discovery("https://idp.example")),
            [
                "https://idp.example/.well-known/openid-configuration",
                "https://idp.example/.well-known/oauth-authorization-server",
            ]
        );
        assert_eq!(
            documents(Source::discovery("https://idp.example/")),
            [
                "https://idp.example/.well-known/openid-configuration",
                "https://idp.example/.well-known/oauth-authorization-server",
            ]
        );
    }

    #[test]
    fn well_known_paths_of_an_issuer_with_a_path() {
        assert_eq!(
            documents(Source::discovery("https://idp.example:8443/tenants/acme/")),
            [
                "https://idp.example:8443/tenants/acme/.well-known/openid-configuration",
                "https://idp.example:8443/.well-known/oauth-authorization-server/tenants/acme",
            ]
        );
        assert_eq!(
            documents(Source::oauth_metadata("https://idp.example/t")),
            ["https://idp.example/.well-known/oauth-authorization-server/t"]
        );
        assert_eq!(
            documents(Source::oidc_discovery("https://idp.example/t")),
            ["https://idp.example/t/.well-known/openid-configuration"]
        );
    }

    #[test]
    fn plain_http_only_to_loopback_unless_allowed() {
        for ok in [
            "http://127.0.0.1:8080/jwks",
            "http://127.1.2.3/jwks",
            "http://localhost/jwks",
            "http://[::1]:9000/jwks",
            "https://idp.example/jwks",
        ] {
            assert!(checked_url(ok, false).is_ok(), "{ok}");
        }
        assert!(matches!(
            checked_url("http://idp.example/jwks", false),
            Err(Error::InsecureUrl(_))
        ));
        assert!(checked_url("http://idp.example/jwks", true).is_ok());
    }

    #[test]
    fn unusable_urls_are_refused() {
        for bad in [
            "/jwks",
            "ftp://idp.example/jwks",
            "https://user:pass@idp.example/jwks",
            "not a url",
            "",
        ] {
            assert!(
                matches!(checked_url(bad, true), Err(Error::InvalidUrl { .. })),
                "{bad}"
            );
        }
        assert!(
            Source::discovery("https://idp.example/?tenant=a")
                .resolve(false)
                .is_err()
        );
    }
}
