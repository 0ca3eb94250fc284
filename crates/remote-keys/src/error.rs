//! Why keys could not be fetched, or a source could not be set up.

use std::error::Error as StdError;
use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;

/// Why a source could not be set up, or a fetch failed. Cheap to clone: the last
/// failure is kept for [`Status`](crate::Status) and shared with every request
/// that waited on the fetch. Messages name URLs and statuses, never key material.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configured or discovered URL cannot be used.
    #[error("unusable URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A plain `http` URL to a host other than loopback, without
    /// [`allow_http`](crate::RemoteKeysBuilder::allow_http): keys fetched that way
    /// could be replaced by anyone on the path.
    #[error("refusing to fetch keys over plain http from {0:?}")]
    InsecureUrl(String),
    /// The builder's settings contradict each other.
    #[error("invalid configuration: {0}")]
    Config(&'static str),
    /// Background refresh needs a tokio runtime, and none was running.
    #[error("no tokio runtime is running")]
    NoRuntime,
    /// No answer within the configured timeout.
    #[error("GET {url} timed out after {after:?}")]
    Timeout {
        /// The URL.
        url: String,
        /// The timeout.
        after: Duration,
    },
    /// Connecting, TLS or HTTP failed.
    #[error("GET {url} failed: {source}")]
    Transport {
        /// The URL.
        url: String,
        /// The client's error.
        source: Arc<dyn StdError + Send + Sync>,
    },
    /// The server answered with a status other than 200.
    #[error("GET {url} answered {status}")]
    Status {
        /// The URL.
        url: String,
        /// The status.
        status: StatusCode,
    },
    /// The document is larger than
    /// [`max_document_bytes`](crate::RemoteKeysBuilder::max_document_bytes).
    #[error("the document at {url} exceeds {limit} bytes")]
    TooLarge {
        /// The URL.
        url: String,
        /// The bound.
        limit: usize,
    },
    /// The document is not the JSON it should be.
    #[error("the document at {url} is malformed: {reason}")]
    Malformed {
        /// The URL.
        url: String,
        /// What is wrong, without the document's contents.
        reason: String,
    },
    /// The JWKS holds no key usable for verifying signatures here.
    #[error("the JWKS at {url} has no usable signature key ({skipped} skipped)")]
    NoUsableKeys {
        /// The URL.
        url: String,
        /// How many keys were skipped.
        skipped: usize,
    },
    /// The metadata document names a different issuer than the one configured.
    #[error("the metadata at {url} is for issuer {found:?}, not {expected:?}")]
    IssuerMismatch {
        /// The metadata URL.
        url: String,
        /// The configured issuer.
        expected: String,
        /// The `issuer` of the document (empty when missing).
        found: String,
    },
    /// The metadata document has no `jwks_uri`.
    #[error("the metadata at {url} has no jwks_uri")]
    MissingJwksUri {
        /// The metadata URL.
        url: String,
    },
    /// No well-known metadata document could be read; the failure of each.
    #[error("discovery failed: {}", join(.0))]
    Discovery(Vec<Error>),
}

fn join(errors: &[Error]) -> String {
    let mut out = String::new();
    for (i, e) in errors.iter().enumerate() {
        if i > 0 {
            out.push_str("; ");
        }
        out.push_str(&e.to_string());
    }
    out
}

/// What an [`HttpGet`](crate::HttpGet) client reports when a GET fails.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// The body grew past the bound the request carried.
    #[error("the body exceeds {limit} bytes")]
    TooLarge {
        /// The bound.
        limit: usize,
    },
    /// Connecting, TLS, or HTTP itself failed.
    #[error(transparent)]
    Transport(Box<dyn StdError + Send + Sync>),
}

impl HttpError {
    /// Wraps a client's error.
    pub fn transport(error: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        HttpError::Transport(error.into())
    }

    pub(crate) fn into_error(self, url: &str) -> Error {
        match self {
            HttpError::TooLarge { limit } => Error::TooLarge {
                url: url.to_owned(),
                limit,
            },
            HttpError::Transport(source) => Error::Transport {
                url: url.to_owned(),
                source: Arc::from(source),
            },
        }
    }
}
