//! `bearer serve`: the issuer at `/auth`, the demo API and the demo page on one
//! listener, until SIGINT or SIGTERM.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::http::{HeaderName, HeaderValue, Method, header};
use issuer::Issuer;
use token_core::{Clock as _, SystemClock};
use tower_http::cors::CorsLayer;

use crate::app::App;
use crate::config::Settings;
use crate::error::CliError;
use crate::keys::KeyFile;
use crate::{demo_api, page};

/// How often the key file is checked for a rotation made by `bearer keys rotate`.
const KEY_POLL: Duration = Duration::from_secs(2);
/// How often expired sessions and throttle entries are purged.
const PURGE_EVERY: Duration = Duration::from_secs(600);

pub(crate) async fn run(settings: &Settings) -> Result<(), CliError> {
    let app = App::open(settings).await?;
    app.register_web_client().await?;
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .map_err(CliError::io(format!(
            "cannot listen on {}",
            settings.listen
        )))?;
    let addr = listener
        .local_addr()
        .map_err(CliError::io("cannot read the listening address"))?;

    tokio::spawn(reload_keys(
        app.issuer.clone(),
        app.keys.path().to_path_buf(),
    ));
    tokio::spawn(purge(app.issuer.clone()));
    announce(&app, addr);

    let router = routes(&app.issuer, settings);
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown())
    .await
    .map_err(CliError::io("the server failed"))?;
    tracing::info!("stopped");
    Ok(())
}

/// Everything served: `/auth/*` (the issuer), `/me` and `/reports` (the API), `/`.
pub(crate) fn routes(issuer: &Issuer, settings: &Settings) -> Router {
    let router = Router::new()
        .nest_service("/auth", issuer.service())
        .merge(demo_api::router(issuer))
        .merge(page::router());
    if settings.cors_origins.is_empty() {
        return router;
    }
    let origins: Vec<HeaderValue> = settings
        .cors_origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    router.layer(
        CorsLayer::new()
            .allow_origin(origins)
            .allow_credentials(true)
            .allow_methods([Method::GET, Method::POST, Method::DELETE])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                HeaderName::from_static("x-requested-with"),
            ])
            .max_age(Duration::from_secs(600)),
    )
}

/// What a newcomer needs on the terminal: where it listens, and how to try it.
#[allow(clippy::print_stdout)]
fn announce(app: &App, addr: SocketAddr) {
    let kid = app
        .keys
        .active()
        .map(|k| k.kid().to_owned())
        .unwrap_or_default();
    let url = format!("http://{addr}");
    if app.created_keys {
        println!(
            "created the key file {} (signing key {kid})",
            app.keys.path().display()
        );
    }
    println!("bearer is serving on {url}");
    println!("  issuer    {url}/auth   (JWKS at {url}/auth/.well-known/jwks.json)");
    println!("  demo page {url}/");
    println!("  API       {url}/me, {url}/reports");
    println!();
    println!("Try it, from another terminal:");
    println!("  bearer user add alice --scopes 'me:read reports:read'");
    println!("  curl -s {url}/auth/token -d grant_type=password -d username=alice -d password=...");
    println!("  curl -s {url}/me -H \"Authorization: Bearer $ACCESS_TOKEN\"");
    println!("  curl -s {url}/auth/refresh -d refresh_token=$REFRESH_TOKEN");
    println!("  curl -s {url}/auth/logout -d refresh_token=$REFRESH_TOKEN");
    println!("Stop with Ctrl-C.");
    tracing::info!(%addr, kid, "listening");
}

/// Swaps in the key file's ring when the file changes (a `bearer keys rotate`), and
/// at least every minute so retired keys leave once their tokens have expired.
async fn reload_keys(issuer: Issuer, path: std::path::PathBuf) {
    let modified = |p: &std::path::Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let mut seen = modified(&path);
    let mut last_load = SystemTime::now();
    let mut tick = tokio::time::interval(KEY_POLL);
    loop {
        tick.tick().await;
        let now_modified = modified(&path);
        let stale = last_load.elapsed().unwrap_or_default() > Duration::from_secs(60);
        if now_modified == seen && !stale {
            continue;
        }
        match KeyFile::open(&path).and_then(|f| f.ring(SystemClock.now())) {
            Ok(ring) => {
                let kid = ring.ring.signing_key().map(|k| k.kid().to_owned());
                issuer.key_ring().store(ring.ring);
                if now_modified != seen {
                    tracing::info!(kid = kid.unwrap_or_default(), "key file reloaded");
                }
                seen = now_modified;
                last_load = SystemTime::now();
            }
            // Keep signing with the keys in memory; say why the file was refused.
            Err(e) => {
                tracing::error!(error = %e, "key file not reloaded");
                seen = now_modified;
            }
        }
    }
}

async fn purge(issuer: Issuer) {
    let mut tick = tokio::time::interval(PURGE_EVERY);
    loop {
        tick.tick().await;
        match issuer.purge_expired().await {
            Ok(purged) => tracing::debug!(?purged, "purged"),
            Err(e) => tracing::warn!(error = %e, "purge failed"),
        }
    }
}

async fn shutdown() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
    tracing::info!("shutting down: finishing requests in flight");
}
