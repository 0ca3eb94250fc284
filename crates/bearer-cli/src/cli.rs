//! The command line: every command, flag and its help text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use token_core::Algorithm;

/// Bearer-token authentication: an issuer, a demo API, and the tools to manage keys,
/// users, clients and tokens.
///
/// Settings come from the configuration file (`--config`, or `bearer.toml` in the
/// working directory when it exists), then from `BEARER_*` environment variables,
/// which win. See `bearer serve --help` for the list.
#[derive(Debug, Parser)]
#[command(name = "bearer", version, propagate_version = true)]
pub(crate) struct Cli {
    /// The configuration file (TOML). Default: `bearer.toml` when it exists.
    #[arg(long, global = true, env = "BEARER_CONFIG", value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,

    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Serve the issuer at /auth, the demo API (/me, /reports) and the demo page (/).
    ///
    /// Settings (file key / environment variable):
    ///   listen / BEARER_LISTEN                    address, default 127.0.0.1:8080
    ///   store / BEARER_STORE                      sqlite:FILE (default sqlite:bearer.db),
    ///                                             postgres://..., redis://..., memory:
    ///   users_store / BEARER_USERS_STORE          with redis://, where users live
    ///   redis_prefix / BEARER_REDIS_PREFIX        prefix of every Redis key, default bearer:
    ///   key_file / BEARER_KEY_FILE                default bearer-keys.json next to the database
    ///   issuer_url / BEARER_ISSUER_URL            the tokens' `iss`, default http://LISTEN/auth
    ///   audience / BEARER_AUDIENCE                the tokens' `aud`, default bearer-demo
    ///   access_ttl / BEARER_ACCESS_TTL            seconds, default 900
    ///   idle_ttl / BEARER_IDLE_TTL                seconds, default 7 days
    ///   absolute_ttl / BEARER_ABSOLUTE_TTL        seconds, default 30 days
    ///   default_scopes / BEARER_DEFAULT_SCOPES    default ["me:read"]
    ///   grantable_scopes / BEARER_GRANTABLE_SCOPES default ["me:read", "reports:read", "reports:write"]
    ///   transport / BEARER_TRANSPORT              body or cookie, for requests without client_id
    ///   web_client / BEARER_WEB_CLIENT            the demo page's cookie client, default web
    ///   cookie_secure / BEARER_COOKIE_SECURE      default: false on loopback, true elsewhere
    ///   cors_origins / BEARER_CORS_ORIGINS        origins allowed to call with credentials
    ///   log / BEARER_LOG                          error, warn, info (default), debug, trace
    #[command(verbatim_doc_comment)]
    Serve(ServeArgs),
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage client_credentials callers.
    #[command(subcommand)]
    Client(ClientCommand),
    /// Generate a signing key: into the key file as the next key (promoted by `keys
    /// rotate`), or into a file of its own with `--out`. Prints its kid.
    Keygen(KeygenArgs),
    /// Manage the key file.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Mint an access token signed with the configured key.
    Mint(MintArgs),
    /// Verify a token: prints its claims as JSON and exits 0, or the reason and exits 1.
    Verify(VerifyArgs),
    /// Print the public JWKS of the configured keys.
    Jwks,
    /// Run the store's migrations and exit.
    Migrate,
}

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// The address to listen on (overrides `listen`).
    #[arg(long, value_name = "ADDR")]
    pub(crate) listen: Option<String>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum UserCommand {
    /// Add a user. The password is asked for, or read from stdin with --password-stdin.
    Add {
        /// The login name.
        login: String,
        /// The user's scope ceiling. Default: the configured default scopes.
        #[arg(long, value_name = "SCOPES")]
        scopes: Option<String>,
        #[command(flatten)]
        password: PasswordSource,
    },
    /// Set a user's password; every earlier token and session of the user ends.
    Passwd {
        /// The login name.
        login: String,
        #[command(flatten)]
        password: PasswordSource,
    },
    /// Disable a user: no more logins, and every token and session ends now.
    Disable {
        /// The login name.
        login: String,
    },
    /// Enable a disabled user.
    Enable {
        /// The login name.
        login: String,
    },
    /// List users.
    List,
    /// Add scopes to a user's ceiling (or replace it with --replace).
    Grant {
        /// The login name.
        login: String,
        /// The scopes.
        #[arg(required = true)]
        scopes: Vec<String>,
        /// Replace the ceiling instead of adding to it.
        #[arg(long)]
        replace: bool,
    },
}

#[derive(Debug, Args)]
pub(crate) struct PasswordSource {
    /// Read the password from the first line of stdin instead of a prompt.
    #[arg(long)]
    pub(crate) password_stdin: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ClientCommand {
    /// Register a client_credentials caller; prints its secret once.
    Add {
        /// The client id.
        id: String,
        /// The client's scope ceiling.
        #[arg(long, value_name = "SCOPES", default_value = "")]
        scopes: String,
    },
    /// List clients.
    List,
    /// Remove a client.
    Remove {
        /// The client id.
        id: String,
    },
}

/// The algorithms `keygen` can make.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum KeygenAlg {
    #[value(name = "EdDSA")]
    EdDsa,
    #[value(name = "ES256")]
    Es256,
    #[value(name = "RS256")]
    Rs256,
    #[value(name = "HS256")]
    Hs256,
}

impl KeygenAlg {
    pub(crate) fn algorithm(self) -> Algorithm {
        match self {
            KeygenAlg::EdDsa => Algorithm::EdDSA,
            KeygenAlg::Es256 => Algorithm::ES256,
            KeygenAlg::Rs256 => Algorithm::RS256,
            KeygenAlg::Hs256 => Algorithm::HS256,
        }
    }
}

#[derive(Debug, Args)]
pub(crate) struct KeygenArgs {
    /// The algorithm.
    #[arg(long, value_enum, default_value = "EdDSA")]
    pub(crate) alg: KeygenAlg,
    /// Write the key to this file (PEM; base64url for HS256) instead of the key file.
    #[arg(long, value_name = "FILE")]
    pub(crate) out: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum KeysCommand {
    /// Promote the next key to signing; the old key keeps verifying until every token
    /// it signed has expired. A running `serve` picks the change up by itself.
    Rotate,
    /// List the keys: kid, algorithm and status.
    List,
}

#[derive(Debug, Args)]
pub(crate) struct MintArgs {
    /// The subject (`sub`).
    #[arg(long)]
    pub(crate) sub: String,
    /// The scopes, space-separated.
    #[arg(long, default_value = "")]
    pub(crate) scope: String,
    /// Lifetime in seconds. Default: the configured access_ttl.
    #[arg(long, value_name = "SECONDS")]
    pub(crate) ttl: Option<u64>,
}

#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// A JWKS file to verify with. Default: the configured key file.
    #[arg(long, value_name = "FILE", conflicts_with = "key")]
    pub(crate) jwks: Option<PathBuf>,
    /// A key file to verify with: PEM (public or private), or a base64url HMAC secret.
    #[arg(long, value_name = "FILE")]
    pub(crate) key: Option<PathBuf>,
    /// The key's algorithm, for --key. Default: EdDSA, ES256, ES384 or RS256 from the
    /// PEM's key type, HS256 for a secret.
    #[arg(long, requires = "key")]
    pub(crate) alg: Option<Algorithm>,
    /// The required `iss`. Default: the configured issuer_url, unless --jwks or --key.
    #[arg(long)]
    pub(crate) iss: Option<String>,
    /// The required `aud`. Default: the configured audience, unless --jwks or --key.
    #[arg(long)]
    pub(crate) aud: Option<String>,
    /// The token.
    pub(crate) token: String,
}
