//! A real tonic client against a real `tonic::transport::Server` with the layer on
//! it: `Unauthenticated` without a token, `PermissionDenied` without the scope,
//! the answer with both. The service is written by hand (prost derive, no protoc).

// Test helpers outside #[test] functions may unwrap too.
#![allow(clippy::unwrap_used)]

mod common;

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::uri::PathAndQuery;
use token_core::{Algorithm, NoExtra};
use tonic::transport::{Endpoint, Server, server::TcpIncoming};
use tonic::{Code, Request, Response, Status};
use tonic_prost::ProstCodec;
use tower_bearer::{BearerAuthLayer, RequestClaimsExt, RequireScopes};
use tower_layer::Layer;

use common::Fixture;

#[derive(Clone, PartialEq, prost::Message)]
struct GetReport {
    #[prost(string, tag = "1")]
    id: String,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Report {
    #[prost(string, tag = "1")]
    id: String,
    #[prost(string, tag = "2")]
    owner: String,
}

const GET: &str = "/reports.Reports/Get";

/// `reports.Reports`, with one unary method, as codegen would write it.
#[derive(Clone)]
struct ReportsServer;

impl tonic::server::NamedService for ReportsServer {
    const NAME: &'static str = "reports.Reports";
}

struct GetHandler;

impl tonic::server::UnaryService<GetReport> for GetHandler {
    type Response = Report;
    type Future = std::future::Ready<Result<Response<Report>, Status>>;

    fn call(&mut self, request: Request<GetReport>) -> Self::Future {
        let owner = request
            .claims::<NoExtra>()
            .and_then(|claims| claims.sub.clone())
            .unwrap_or_default();
        let id = request.into_inner().id;
        std::future::ready(Ok(Response::new(Report {
            id,
            owner: owner.to_string(),
        })))
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
                Ok(grpc.unary(GetHandler, request).await)
            } else {
                Ok(Status::unimplemented("no such method").into_http())
            }
        })
    }
}

async fn call(channel: &tonic::transport::Channel, token: Option<&str>) -> Result<Report, Status> {
    let mut client = tonic::client::Grpc::new(channel.clone());
    client
        .ready()
        .await
        .map_err(|e| Status::unknown(e.to_string()))?;
    let mut request = Request::new(GetReport { id: "q3".into() });
    if let Some(token) = token {
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
    }
    client
        .unary(
            request,
            PathAndQuery::from_static(GET),
            ProstCodec::<GetReport, Report>::default(),
        )
        .await
        .map(Response::into_inner)
}

#[tokio::test]
async fn tonic_client_sees_unauthenticated_permission_denied_and_success() {
    let fx = Fixture::new(Algorithm::ES256);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = Server::builder()
        .layer(BearerAuthLayer::new(fx.verifier.clone()))
        .add_service(RequireScopes::all(["reports:read"]).layer(ReportsServer));
    tokio::spawn(server.serve_with_incoming(TcpIncoming::from(listener)));

    let channel = Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();

    let missing = call(&channel, None).await.unwrap_err();
    assert_eq!(missing.code(), Code::Unauthenticated);
    assert_eq!(missing.message(), "no credentials were sent");

    let invalid = call(&channel, Some("a.b.c")).await.unwrap_err();
    assert_eq!(invalid.code(), Code::Unauthenticated);

    let no_scope = call(&channel, Some(&fx.token("alice", "me:read")))
        .await
        .unwrap_err();
    assert_eq!(no_scope.code(), Code::PermissionDenied);
    assert_eq!(no_scope.message(), "token lacks the required scope");

    let report = call(&channel, Some(&fx.token("alice", "reports:read")))
        .await
        .unwrap();
    assert_eq!(
        report,
        Report {
            id: "q3".into(),
            owner: "alice".into()
        }
    );
}
