//! The response future of [`BearerAuth`](crate::BearerAuth). The synchronous path
//! (token verified, or refused, without asking anything) allocates no future of its
//! own: the inner future or the answer sits inline. Only a request that must wait
//! for a source carries that source's boxed future.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::{Request, Response};
use pin_project_lite::pin_project;
use token_core::{BoxFuture, Claims};
use tower_service::Service;
use tracing::Span;

use crate::body::{self, ResponseBody};
use crate::error::AuthError;
use crate::response::Answer;
use crate::service::{Answered, admit, record_refusal};

pin_project! {
    /// Resolves to the inner service's response, or to the layer's refusal.
    pub struct ResponseFuture<S, B, E>
    where
        S: Service<Request<B>>,
    {
        #[pin]
        state: State<S, B, E>,
        span: Span,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, B, E>
    where
        S: Service<Request<B>>,
    {
        Inner {
            #[pin]
            future: S::Future,
        },
        Answer {
            answer: Option<Answered>,
        },
        Wait {
            check: BoxFuture<'static, Result<Claims<E>, AuthError>>,
            // Both taken exactly once, when the check completes.
            service: Option<S>,
            request: Option<Request<B>>,
            answer: Answer,
        },
    }
}

impl<S, B, E> ResponseFuture<S, B, E>
where
    S: Service<Request<B>>,
{
    pub(crate) fn inner(future: S::Future, span: Span) -> Self {
        ResponseFuture {
            state: State::Inner { future },
            span,
        }
    }

    pub(crate) fn answer(answer: Answered, span: Span) -> Self {
        ResponseFuture {
            state: State::Answer {
                answer: Some(answer),
            },
            span,
        }
    }

    pub(crate) fn wait(
        check: BoxFuture<'static, Result<Claims<E>, AuthError>>,
        service: S,
        request: Request<B>,
        answer: Answer,
        span: Span,
    ) -> Self {
        ResponseFuture {
            state: State::Wait {
                check,
                service: Some(service),
                request: Some(request),
                answer,
            },
            span,
        }
    }
}

impl<S, B, E, ResBody> Future for ResponseFuture<S, B, E>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
    E: Clone + Send + Sync + 'static,
{
    type Output = Result<Response<ResponseBody<ResBody>>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let _entered = this.span.enter();
        loop {
            let next = match this.state.as_mut().project() {
                StateProj::Inner { future } => {
                    let response = ready!(future.poll(cx))?;
                    return Poll::Ready(Ok(response.map(ResponseBody::inner)));
                }
                StateProj::Answer { answer } => {
                    // Polled again after completion: answer with an empty 500
                    // rather than panic.
                    let answer = answer.take().unwrap_or_else(|| {
                        let mut gone = Response::new(bytes::Bytes::new());
                        *gone.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
                        gone
                    });
                    return Poll::Ready(Ok(body::into_response(answer)));
                }
                StateProj::Wait {
                    check,
                    service,
                    request,
                    answer,
                } => {
                    let outcome = ready!(check.as_mut().poll(cx));
                    let (Some(mut service), Some(mut request)) = (service.take(), request.take())
                    else {
                        return Poll::Ready(Ok(body::into_response(Response::new(
                            bytes::Bytes::new(),
                        ))));
                    };
                    match outcome {
                        Ok(claims) => {
                            this.span.record("outcome", "ok");
                            admit(&mut request, claims, answer);
                            State::Inner {
                                future: service.call(request),
                            }
                        }
                        Err(error) => {
                            record_refusal(this.span, &error);
                            State::Answer {
                                answer: Some(answer.respond(&error, request.headers())),
                            }
                        }
                    }
                }
            };
            this.state.set(next);
        }
    }
}

impl<S, B, E> fmt::Debug for ResponseFuture<S, B, E>
where
    S: Service<Request<B>>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
