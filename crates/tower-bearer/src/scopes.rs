//! [`RequireScopes`]: a route layer that lets a request through only when the token
//! the [`BearerAuthLayer`](crate::BearerAuthLayer) verified carries the scopes the
//! route needs, and otherwise answers 403 `insufficient_scope` naming them.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use http::{Request, Response};
use pin_project_lite::pin_project;
use token_core::Scopes;
use tower_layer::Layer;
use tower_service::Service;

use crate::body::{self, ResponseBody};
use crate::context::{AuthContext, answer_of};
use crate::error::{AuthError, ScopeRequirement};
use crate::service::{Answered, record_refusal};

/// Requires scopes of the verified token, per route (axum `route_layer`) or per
/// service (a tonic service).
///
/// Behind an optional layer, an anonymous request gets 401 (no credentials): it is
/// not that its token lacks a scope, it has none. Without any layer in front the
/// guard also answers 401; it never lets a request through unchecked.
///
/// ```
/// use tower_bearer::RequireScopes;
///
/// let read = RequireScopes::all(["reports:read"]);
/// let admin_or_auditor = RequireScopes::any(["admin", "audit"]);
/// # let _ = (read, admin_or_auditor);
/// ```
#[derive(Clone)]
pub struct RequireScopes {
    requirement: Arc<ScopeRequirement>,
}

impl RequireScopes {
    /// Every one of `scopes` is required.
    pub fn all<I, S>(scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        RequireScopes::new(scopes, false)
    }

    /// Any one of `scopes` is enough.
    pub fn any<I, S>(scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        RequireScopes::new(scopes, true)
    }

    fn new<I, S>(scopes: I, any: bool) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let requirement = match Scopes::from_tokens(scopes) {
            Ok(scopes) if any => ScopeRequirement::any(scopes),
            Ok(scopes) => ScopeRequirement::all(scopes),
            Err(_) => {
                tracing::error!(
                    "RequireScopes was given a scope outside RFC 6749 syntax; every request will be refused"
                );
                ScopeRequirement::unsatisfiable(any)
            }
        };
        RequireScopes {
            requirement: Arc::new(requirement),
        }
    }

    /// What the guard requires.
    pub fn requirement(&self) -> &ScopeRequirement {
        &self.requirement
    }
}

impl fmt::Debug for RequireScopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RequireScopes")
            .field(&self.requirement)
            .finish()
    }
}

impl<S> Layer<S> for RequireScopes {
    type Service = RequireScopesService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireScopesService {
            inner,
            requirement: Arc::clone(&self.requirement),
        }
    }
}

/// The service [`RequireScopes`] wraps around a route or a gRPC service.
#[derive(Clone)]
pub struct RequireScopesService<S> {
    pub(crate) inner: S,
    requirement: Arc<ScopeRequirement>,
}

impl<S: fmt::Debug> fmt::Debug for RequireScopesService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequireScopesService")
            .field("inner", &self.inner)
            .field("requirement", &self.requirement)
            .finish()
    }
}

impl<S, B, ResBody> Service<Request<B>> for RequireScopesService<S>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ScopeFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let extensions = request.extensions();
        let granted = extensions
            .get::<AuthContext>()
            .and_then(|context| context.granted(extensions));
        let refusal = match granted {
            Some(granted) if self.requirement.is_met_by(granted) => None,
            Some(_) => Some(AuthError::InsufficientScope(ScopeRequirement::clone(
                &self.requirement,
            ))),
            None => Some(AuthError::MissingCredentials),
        };
        match refusal {
            None => ScopeFuture {
                kind: Kind::Inner {
                    future: self.inner.call(request),
                },
            },
            Some(error) => {
                record_refusal(&tracing::Span::current(), &error);
                let answer = answer_of(request.extensions()).respond(&error, request.headers());
                ScopeFuture {
                    kind: Kind::Answer {
                        answer: Some(answer),
                    },
                }
            }
        }
    }
}

pin_project! {
    /// The response future of [`RequireScopesService`].
    pub struct ScopeFuture<F> {
        #[pin]
        kind: Kind<F>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F> {
        Inner { #[pin] future: F },
        Answer { answer: Option<Answered> },
    }
}

impl<F> fmt::Debug for ScopeFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopeFuture").finish_non_exhaustive()
    }
}

impl<F, ResBody, Error> Future for ScopeFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, Error>>,
{
    type Output = Result<Response<ResponseBody<ResBody>>, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Inner { future } => {
                let response = ready!(future.poll(cx))?;
                Poll::Ready(Ok(response.map(ResponseBody::inner)))
            }
            KindProj::Answer { answer } => {
                let answer = answer.take().unwrap_or_default();
                Poll::Ready(Ok(body::into_response(answer)))
            }
        }
    }
}
