//! What the layer leaves in request extensions for handlers and the guards behind
//! it.

use http::Extensions;
use token_core::{Claims, Scopes};

use crate::response::Answer;

/// Marks a request that passed an optional layer without credentials.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Anonymous;

/// Left by the layer on every request it lets through, so guards behind it (scope
/// checks, extractors) answer the way the layer does. Its type is private: only
/// this crate reads it.
#[derive(Clone, Debug)]
pub(crate) struct AuthContext {
    /// Reads the token's scopes from the claims in the extensions; `None` for an
    /// anonymous request. A function (made for the layer's claims type) rather than
    /// a copy of the scopes, so admitting a request allocates nothing for guards.
    pub(crate) scopes: Option<ScopesOf>,
    pub(crate) answer: Answer,
}

/// Finds the scopes of the claims the layer put into the extensions.
pub(crate) type ScopesOf = fn(&Extensions) -> Option<&Scopes>;

/// The [`ScopesOf`] for claims of type `Claims<E>`.
pub(crate) fn scopes_of<E: Send + Sync + 'static>(extensions: &Extensions) -> Option<&Scopes> {
    extensions.get::<Claims<E>>().map(|claims| &claims.scope)
}

impl AuthContext {
    /// The granted scopes: `None` when the request is anonymous.
    pub(crate) fn granted<'e>(&self, extensions: &'e Extensions) -> Option<&'e Scopes> {
        self.scopes.and_then(|scopes_of| scopes_of(extensions))
    }
}

/// The answer of the layer in front, or the default one when a guard is used
/// without a layer.
pub(crate) fn answer_of(extensions: &Extensions) -> Answer {
    extensions
        .get::<AuthContext>()
        .map(|context| context.answer.clone())
        .unwrap_or_default()
}

/// Reading what the layer verified from a request.
///
/// ```
/// use http::Request;
/// use tower_bearer::RequestClaimsExt;
///
/// let request = Request::new(());
/// assert!(request.claims::<token_core::NoExtra>().is_none());
/// assert!(!request.is_anonymous());
/// ```
pub trait RequestClaimsExt {
    /// The verified claims, when the request carried a valid token.
    fn claims<E: Send + Sync + 'static>(&self) -> Option<&Claims<E>>;

    /// True when an optional layer let the request through without credentials.
    fn is_anonymous(&self) -> bool;
}

impl<B> RequestClaimsExt for http::Request<B> {
    fn claims<E: Send + Sync + 'static>(&self) -> Option<&Claims<E>> {
        self.extensions().get::<Claims<E>>()
    }

    fn is_anonymous(&self) -> bool {
        self.extensions().get::<Anonymous>().is_some()
    }
}
