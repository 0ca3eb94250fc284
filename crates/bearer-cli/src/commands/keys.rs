//! `bearer keygen` and `bearer keys rotate|list`: they work on the key file alone,
//! so they need no store.

use std::time::Duration;

use token_core::{Clock as _, SystemClock};

use super::out;
use crate::cli::{KeygenArgs, KeysCommand};
use crate::config::Settings;
use crate::error::CliError;
use crate::keys::{KeyFile, NewKey, Status, write_private};

pub(crate) fn keygen(settings: &Settings, args: &KeygenArgs) -> Result<(), CliError> {
    let alg = args.alg.algorithm();
    if let Some(path) = &args.out {
        if path.exists() {
            return Err(CliError::Usage(format!(
                "{} exists; refusing to overwrite a key",
                path.display()
            )));
        }
        let key = NewKey::generate(alg)?;
        write_private(path, key.file_text().as_bytes())?;
        return out(key.key.kid());
    }
    let (mut file, created) = KeyFile::open_or_create(&settings.key_file, alg)?;
    if created {
        out(file.active()?.kid())
    } else {
        let kid = file.set_next(NewKey::generate(alg)?)?;
        out(kid)
    }
}

pub(crate) fn run(settings: &Settings, command: &KeysCommand) -> Result<(), CliError> {
    match command {
        KeysCommand::Rotate => {
            let mut file = KeyFile::open(&settings.key_file)?;
            // The old key verifies for one access lifetime plus a minute of clock
            // skew: every token it signed has expired by then.
            let keep = settings.access_ttl + Duration::from_secs(60);
            let keep = i64::try_from(keep.as_secs()).unwrap_or(i64::MAX);
            let (active, retired) = file.rotate(SystemClock.now(), keep)?;
            out(format_args!(
                "signing with {active}; {retired} verifies for {keep} more seconds"
            ))
        }
        KeysCommand::List => {
            let file = KeyFile::open(&settings.key_file)?;
            out(format_args!(
                "{:<45} {:<6} {:<8} UNTIL",
                "KID", "ALG", "STATUS"
            ))?;
            for key in file.keys() {
                let status = match key.status {
                    Status::Active => "active",
                    Status::Next => "next",
                    Status::Retired => "retired",
                };
                let until = key.until.map(|t| t.to_string()).unwrap_or_default();
                out(format_args!(
                    "{:<45} {:<6} {status:<8} {until}",
                    key.kid,
                    key.alg.as_str()
                ))?;
            }
            Ok(())
        }
    }
}
