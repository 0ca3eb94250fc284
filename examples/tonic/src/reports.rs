//! `reports.Reports` written by hand: what `tonic-build` would generate from
//!
//! ```proto
//! service Reports { rpc Get(GetReport) returns (Report); }
//! message GetReport { string id = 1; }
//! message Report { string id = 1; string owner = 2; }
//! ```

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::uri::PathAndQuery;
use token_core::NoExtra;
use tonic::transport::Channel;
use tonic::{Request, Response, Status};
use tonic_prost::ProstCodec;
use tower_bearer::RequestClaimsExt;

const GET: &str = "/reports.Reports/Get";

/// Asks for one report.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct GetReport {
    #[prost(string, tag = "1")]
    pub(crate) id: String,
}

/// A report, with the subject that asked for it.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Report {
    #[prost(string, tag = "1")]
    pub(crate) id: String,
    #[prost(string, tag = "2")]
    pub(crate) owner: String,
}

/// The server side: routes `/reports.Reports/Get` to [`get`].
#[derive(Clone, Debug)]
pub(crate) struct ReportsServer;

impl tonic::server::NamedService for ReportsServer {
    const NAME: &'static str = "reports.Reports";
}

/// The handler: the layer in front has verified the token and left its claims in
/// the request extensions.
async fn get(request: Request<GetReport>) -> Result<Response<Report>, Status> {
    let owner = request
        .claims::<NoExtra>()
        .and_then(|claims| claims.sub.clone())
        .ok_or_else(|| Status::unauthenticated("no verified token"))?;
    let id = request.into_inner().id;
    Ok(Response::new(Report {
        id,
        owner: owner.to_string(),
    }))
}

struct Get;

impl tonic::server::UnaryService<GetReport> for Get {
    type Response = Report;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Report>, Status>> + Send>>;

    fn call(&mut self, request: Request<GetReport>) -> Self::Future {
        Box::pin(get(request))
    }
}

impl<B> tower_service::Service<http::Request<B>> for ReportsServer
where
    B: http_body::Body + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>> + Send,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        Box::pin(async move {
            if request.uri().path() == GET {
                let mut grpc = tonic::server::Grpc::new(ProstCodec::<Report, GetReport>::default());
                Ok(grpc.unary(Get, request).await)
            } else {
                Ok(Status::unimplemented("no such method").into_http())
            }
        })
    }
}

/// The client side.
#[derive(Clone, Debug)]
pub(crate) struct ReportsClient {
    channel: Channel,
}

impl ReportsClient {
    pub(crate) fn new(channel: Channel) -> Self {
        ReportsClient { channel }
    }

    /// Calls `Get`, with `Authorization: Bearer <token>` when a token is given.
    pub(crate) async fn get(
        &self,
        message: GetReport,
        token: Option<&str>,
    ) -> Result<Report, Status> {
        let mut grpc = tonic::client::Grpc::new(self.channel.clone());
        grpc.ready()
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?;
        let mut request = Request::new(message);
        if let Some(token) = token {
            let value = format!("Bearer {token}")
                .parse()
                .map_err(|_| Status::invalid_argument("token is not a header value"))?;
            request.metadata_mut().insert("authorization", value);
        }
        grpc.unary(
            request,
            PathAndQuery::from_static(GET),
            ProstCodec::<GetReport, Report>::default(),
        )
        .await
        .map(Response::into_inner)
    }
}
