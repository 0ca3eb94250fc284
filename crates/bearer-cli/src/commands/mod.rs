//! The administrative commands: each opens the configured store and key file, does
//! one thing, and prints what it did.

pub(crate) mod client;
pub(crate) mod keys;
pub(crate) mod token;
pub(crate) mod user;

use std::io::Write as _;

use crate::error::CliError;

/// Writes `text` and a newline to stdout (commands' output is for scripts too, so it
/// goes through one place).
pub(crate) fn out(text: impl std::fmt::Display) -> Result<(), CliError> {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{text}").map_err(CliError::io("cannot write to stdout"))
}
