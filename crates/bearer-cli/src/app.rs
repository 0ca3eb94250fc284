//! The issuer every command works through, built from the settings: the store named
//! by `store`, the key file (created on first use), and the token policy.

use issuer::store::{self, StoreConfig};
use issuer::{Issuer, RefreshTransport, User};
use token_core::{Algorithm, Clock as _, SystemClock};

use crate::config::Settings;
use crate::error::CliError;
use crate::keys::KeyFile;

/// An issuer over the configured store and keys.
#[derive(Debug)]
pub(crate) struct App {
    pub(crate) issuer: Issuer,
    pub(crate) keys: KeyFile,
    pub(crate) settings: Settings,
    /// The key file was made just now.
    pub(crate) created_keys: bool,
}

impl App {
    /// Opens the store (running its migrations) and the key file (creating it with
    /// an EdDSA key when missing), and builds the issuer.
    pub(crate) async fn open(settings: &Settings) -> Result<Self, CliError> {
        let (keys, created_keys) = KeyFile::open_or_create(&settings.key_file, Algorithm::EdDSA)?;
        create_private_database(&settings.store)?;
        let stores = store::open(&store_config(settings)).await?;
        let issuer = build_issuer(settings, &keys, stores)?;
        Ok(App {
            issuer,
            keys,
            settings: settings.clone(),
            created_keys,
        })
    }

    /// The user with this login, or a clear error.
    pub(crate) async fn user(&self, login: &str) -> Result<User, CliError> {
        self.issuer
            .find_user(login)
            .await?
            .ok_or_else(|| CliError::NotFound(format!("no user `{login}`")))
    }

    /// Registers the demo page's public client with the cookie transport (idempotent).
    pub(crate) async fn register_web_client(&self) -> Result<(), CliError> {
        if let Some(id) = &self.settings.web_client {
            self.issuer
                .add_public_client(id, RefreshTransport::Cookie)
                .await?;
        }
        Ok(())
    }
}

/// Creates a missing SQLite database file readable by its owner only (it holds
/// password hashes); SQLite gives its journal files the same mode.
fn create_private_database(store: &str) -> Result<(), CliError> {
    match crate::config::sqlite_file(store) {
        Some(path) if !path.exists() => Ok(crate::keys::write_private(path, b"")?),
        _ => Ok(()),
    }
}

pub(crate) fn store_config(settings: &Settings) -> StoreConfig {
    let mut config = StoreConfig::new(&settings.store).key_prefix(&settings.redis_prefix);
    if let Some(users) = &settings.users_store {
        config = config.users_url(users);
    }
    config
}

fn build_issuer(
    settings: &Settings,
    keys: &KeyFile,
    stores: store::Stores,
) -> Result<Issuer, CliError> {
    let ring = keys.ring(SystemClock.now())?;
    let refresh_key = keys.refresh_key().map_err(|message| {
        CliError::Keys(crate::keys::KeyFileError::Invalid {
            path: keys.path().to_path_buf(),
            message,
        })
    })?;
    let mut builder = Issuer::builder()
        .signing_keys(ring.ring)
        .stores(stores)
        .refresh_key(refresh_key)
        .issuer_url(&settings.issuer_url)
        .audience(&settings.audience)
        .access_ttl(settings.access_ttl)
        .idle_ttl(settings.idle_ttl)
        .absolute_ttl(settings.absolute_ttl)
        .default_scopes(settings.default_scopes.clone())
        .grantable_scopes(settings.grantable_scopes.clone())
        .transport(settings.transport)
        .mount_path("/auth")
        .insecure_dev_cookies(!settings.cookie_secure);
    if let Some(next) = ring.next {
        builder = builder.next_signing_key(next);
    }
    for origin in &settings.cors_origins {
        builder = builder.allowed_origin(origin);
    }
    Ok(builder.build()?)
}
