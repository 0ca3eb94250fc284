//! Every way a command fails, and the exit code it gives.

use crate::config::ConfigError;
use crate::keys::KeyFileError;

/// Why a command failed. Messages are for the person at the terminal and never hold
/// a secret (store URLs come back from the store with their passwords masked).
#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Keys(#[from] KeyFileError),
    #[error("store: {0}")]
    Store(#[from] issuer::StoreError),
    #[error("{0}")]
    Admin(#[from] issuer::AdminError),
    #[error("cannot build the issuer: {0}")]
    Build(#[from] issuer::BuildError),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Usage(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    /// `verify` refused the token; the message is the exact reason.
    #[error("{0}")]
    Rejected(String),
}

impl CliError {
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let context = context.into();
        move |source| CliError::Io { context, source }
    }

    /// 1: the token or the input was refused; 2: bad usage or configuration; 3: the
    /// environment failed (store, files).
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            CliError::Rejected(_) | CliError::NotFound(_) | CliError::Admin(_) => 1,
            CliError::Config(_) | CliError::Usage(_) | CliError::Build(_) => 2,
            CliError::Keys(_) | CliError::Store(_) | CliError::Io { .. } => 3,
        }
    }
}
