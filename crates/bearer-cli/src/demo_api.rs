//! The demo API behind the bearer layer: `GET /me` for any valid token, `GET
//! /reports` with `reports:read`, `POST /reports` with `reports:write`.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, body::Bytes};
use issuer::Issuer;
use serde_json::{Value, json};
use tower_bearer::axum::Claims;
use tower_bearer::{BearerAuthLayer, RequireScopes};

/// How long the layer trusts an epoch or revocation answer: a password change or a
/// logout made by another process reaches this API within this plus the store's
/// epoch bound (1 s).
const STATUS_TTL: Duration = Duration::from_secs(1);
/// Reports kept in memory; the oldest go first past this many.
const MAX_REPORTS: usize = 100;
/// The longest report title kept, in bytes.
const MAX_TITLE: usize = 200;

#[derive(Clone, Default)]
struct Reports(Arc<Mutex<Vec<Value>>>);

/// The API routes, each behind a layer that verifies the token, consults the
/// issuer's epochs (a password change ends older tokens) and revocations (a logout
/// ends its session's tokens).
pub(crate) fn router(issuer: &Issuer) -> Router {
    let auth = BearerAuthLayer::builder(issuer.verifier())
        .epoch_source(issuer.epoch_source())
        .revocation_check(issuer.revocation_check())
        .realm("bearer-demo")
        .status_ttl(STATUS_TTL)
        .allow_cors_preflight(true)
        .build();
    Router::new()
        .route("/me", get(me))
        .route(
            "/reports",
            get(list_reports).route_layer(RequireScopes::all(["reports:read"])),
        )
        .route(
            "/reports",
            post(add_report).route_layer(RequireScopes::all(["reports:write"])),
        )
        .with_state(Reports::default())
        .layer(auth)
}

async fn me(Claims(claims): Claims) -> Json<Value> {
    Json(json!({
        "sub": claims.sub,
        "scope": claims.scope.as_str(),
        "client_id": claims.client_id,
        "exp": claims.exp,
    }))
}

async fn list_reports(State(reports): State<Reports>, Claims(claims): Claims) -> Json<Value> {
    let list = reports
        .0
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    Json(json!({ "for": claims.sub, "reports": list }))
}

/// Files a report whose title is the request body (UTF-8, trimmed, at most 200 bytes).
async fn add_report(
    State(reports): State<Reports>,
    Claims(claims): Claims,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), (StatusCode, Json<Value>)> {
    let title = std::str::from_utf8(&body)
        .map(str::trim)
        .unwrap_or_default();
    if title.is_empty() || title.len() > MAX_TITLE {
        return Err((
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({ "error": "the body must be a title of 1 to 200 bytes of UTF-8" })),
        ));
    }
    let report = json!({ "title": title, "by": claims.sub });
    let mut list = reports.0.lock().unwrap_or_else(PoisonError::into_inner);
    if list.len() == MAX_REPORTS {
        list.remove(0);
    }
    list.push(report.clone());
    Ok((StatusCode::CREATED, Json(report)))
}
