//! [`BearerAuth`], the service the layer wraps around yours: extract, verify,
//! check status, then call the inner service with the claims in the extensions.

use std::fmt;
use std::mem;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Method, Request, Response, header};
use serde::de::DeserializeOwned;
use token_core::{BoxFuture, Claims, VerifyError};
use tower_service::Service;
use tracing::{Span, field};

use crate::body::ResponseBody;
use crate::cache;
use crate::context::{Anonymous, AuthContext, scopes_of};
use crate::epoch::Status;
use crate::error::AuthError;
use crate::extract;
use crate::future::ResponseFuture;
use crate::layer::Shared;

/// Authenticates requests before they reach `S`. Made by
/// [`BearerAuthLayer`](crate::BearerAuthLayer).
pub struct BearerAuth<S, E = token_core::NoExtra> {
    inner: S,
    shared: Arc<Shared<E>>,
}

/// What the synchronous part of the work decided.
pub(crate) enum Decision<E> {
    /// Let the request through; the extensions are filled in.
    Pass,
    /// Refuse it.
    Refuse(AuthError),
    /// Ask a source (epoch, revocation, key refresh) before deciding.
    Wait(BoxFuture<'static, Result<Claims<E>, AuthError>>),
}

impl<S, E> BearerAuth<S, E> {
    pub(crate) fn new(inner: S, shared: Arc<Shared<E>>) -> Self {
        BearerAuth { inner, shared }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S: Clone, E> Clone for BearerAuth<S, E> {
    fn clone(&self) -> Self {
        BearerAuth {
            inner: self.inner.clone(),
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<S: fmt::Debug, E> fmt::Debug for BearerAuth<S, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BearerAuth")
            .field("inner", &self.inner)
            .field("config", &self.shared)
            .finish()
    }
}

impl<S, E, B, ResBody> Service<Request<B>> for BearerAuth<S, E>
where
    S: Service<Request<B>, Response = Response<ResBody>> + Clone,
    E: Clone + DeserializeOwned + Send + Sync + 'static,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S, B, E>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let span =
            tracing::debug_span!("bearer_auth", outcome = field::Empty, reason = field::Empty);
        let decision = {
            let _entered = span.enter();
            self.shared.decide(&mut request, &span)
        };
        match decision {
            Decision::Pass => {
                let future = {
                    let _entered = span.enter();
                    self.inner.call(request)
                };
                ResponseFuture::inner(future, span)
            }
            Decision::Refuse(error) => {
                let answer = self.shared.answer.respond(&error, request.headers());
                ResponseFuture::answer(answer, span)
            }
            Decision::Wait(check) => {
                // The inner service was made ready by `poll_ready`; take that one
                // into the future and leave a fresh clone in its place.
                let clone = self.inner.clone();
                let ready = mem::replace(&mut self.inner, clone);
                ResponseFuture::wait(check, ready, request, self.shared.answer.clone(), span)
            }
        }
    }
}

impl<E> Shared<E>
where
    E: Clone + DeserializeOwned + Send + Sync + 'static,
{
    /// Everything that can be decided without waiting.
    fn decide<B>(self: &Arc<Self>, request: &mut Request<B>, span: &Span) -> Decision<E> {
        if self.cors_preflight && is_preflight(request) {
            span.record("outcome", "preflight");
            return Decision::Pass;
        }
        let verified = {
            let found = match extract::find(&self.sources, request.headers(), request.uri()) {
                Ok(found) => found,
                Err(invalid) => return refuse(span, invalid.into()),
            };
            let Some(found) = found else {
                if !self.optional {
                    return refuse(span, AuthError::MissingCredentials);
                }
                span.record("outcome", "anonymous");
                let extensions = request.extensions_mut();
                extensions.insert(Anonymous);
                extensions.insert(AuthContext {
                    scopes: None,
                    answer: self.answer.clone(),
                });
                return Decision::Pass;
            };
            if found.from_cookie && !self.csrf.allows(request.method(), request.headers()) {
                return refuse(span, AuthError::Csrf);
            }
            self.verify(&found.token)
        };
        let claims = match verified {
            Verified::Claims(claims) => claims,
            Verified::Refused(error) => return refuse(span, error),
            Verified::RefreshKeys { slot, token } => {
                return Decision::Wait(Arc::clone(self).refresh_and_verify(slot, token));
            }
        };
        if self.status.is_empty() {
            self.admit(request, claims, span);
            return Decision::Pass;
        }
        match self.status.check(&claims) {
            Status::Pass => {
                self.admit(request, claims, span);
                Decision::Pass
            }
            Status::Refused(error) => refuse(span, error),
            Status::Ask(pending) => {
                let ask = Arc::clone(&self.status).ask(pending);
                Decision::Wait(Box::pin(async move { ask.await.map(|()| claims) }))
            }
        }
    }

    /// The token's claims from the cache, or from the verifier chosen for it.
    fn verify(&self, token: &str) -> Verified<E> {
        let verifiers = self.verifiers.all();
        if let Some(cache) = &self.cache {
            match cache.get(token, verifiers) {
                Some(Ok(claims)) => return Verified::Claims(claims),
                Some(Err(error)) => return Verified::Refused(error.into()),
                None => {}
            }
        }
        let slot = match self.verifiers.select(token) {
            Ok(slot) => slot,
            Err(error) => return Verified::Refused(error.into()),
        };
        let Some(verifier) = verifiers.get(slot) else {
            return Verified::Refused(VerifyError::UnknownKey.into());
        };
        let cache = self
            .cache
            .as_ref()
            .filter(|cache| cache.holds(verifier.keys()));
        // Pinned before verifying, so a ring swapped meanwhile invalidates the entry.
        let ring = cache.and_then(|_| cache::ring_version(verifier.keys()));
        match verifier.verify(token) {
            Ok(claims) => {
                if let Some(cache) = cache {
                    cache.insert(token, slot, ring, &claims, self.clock.now());
                }
                Verified::Claims(claims)
            }
            Err(VerifyError::UnknownKey) if self.key_refresh.is_some() => Verified::RefreshKeys {
                slot,
                token: token.to_owned(),
            },
            Err(error) => Verified::Refused(error.into()),
        }
    }

    /// The slow path for an unknown `kid`: refresh the keys, verify once more, then
    /// ask the status sources.
    fn refresh_and_verify(
        self: Arc<Self>,
        slot: usize,
        token: String,
    ) -> BoxFuture<'static, Result<Claims<E>, AuthError>> {
        Box::pin(async move {
            let unknown = AuthError::InvalidToken(VerifyError::UnknownKey);
            let Some(hook) = &self.key_refresh else {
                return Err(unknown);
            };
            let changed = hook
                .refresh(self.verifiers.issuer(slot))
                .await
                .map_err(AuthError::Unavailable)?;
            if !changed {
                return Err(unknown);
            }
            let verifier = self.verifiers.all().get(slot).ok_or(unknown)?;
            let claims = verifier.verify(&token)?;
            match self.status.check(&claims) {
                Status::Pass => Ok(claims),
                Status::Refused(error) => Err(error),
                Status::Ask(pending) => {
                    Arc::clone(&self.status).ask(pending).await?;
                    Ok(claims)
                }
            }
        })
    }

    /// Puts the claims where handlers and guards find them.
    pub(crate) fn admit<B>(&self, request: &mut Request<B>, claims: Claims<E>, span: &Span) {
        span.record("outcome", "ok");
        admit(request, claims, &self.answer);
    }
}

/// Fills in the extensions of a request whose token passed.
pub(crate) fn admit<B, E>(
    request: &mut Request<B>,
    claims: Claims<E>,
    answer: &crate::response::Answer,
) where
    E: Send + Sync + 'static + Clone,
{
    let extensions = request.extensions_mut();
    extensions.insert(AuthContext {
        scopes: Some(scopes_of::<E>),
        answer: answer.clone(),
    });
    extensions.insert(claims);
}

/// The outcome of the synchronous verification step.
enum Verified<E> {
    Claims(Claims<E>),
    Refused(AuthError),
    RefreshKeys { slot: usize, token: String },
}

/// Records a refusal on the span (client failures are debug-level events) and
/// returns it.
pub(crate) fn refuse<E>(span: &Span, error: AuthError) -> Decision<E> {
    record_refusal(span, &error);
    Decision::Refuse(error)
}

pub(crate) fn record_refusal(span: &Span, error: &AuthError) {
    span.record("outcome", error.kind());
    span.record("reason", error.reason());
    if matches!(error, AuthError::Unavailable(_)) {
        return; // already logged at warn where the source failed
    }
    tracing::debug!(parent: span, outcome = error.kind(), reason = error.reason(), "request refused");
}

fn is_preflight<B>(request: &Request<B>) -> bool {
    request.method() == Method::OPTIONS
        && request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
}

/// Keeps the refusal answer type in one place for the future.
pub(crate) type Answered = Response<Bytes>;
