//! `bearer user add|passwd|disable|enable|list|grant`.

use std::io::BufRead as _;

use token_core::Scopes;
use zeroize::Zeroizing;

use super::out;
use crate::app::App;
use crate::cli::{PasswordSource, UserCommand};
use crate::error::CliError;

pub(crate) async fn run(app: &App, command: UserCommand) -> Result<(), CliError> {
    let issuer = &app.issuer;
    match command {
        UserCommand::Add {
            login,
            scopes,
            password,
        } => {
            let scopes = match scopes {
                Some(text) => parse_scopes(&text)?,
                None => app.settings.default_scopes.clone(),
            };
            if issuer.find_user(&login).await?.is_some() {
                return Err(CliError::Usage(format!("user `{login}` already exists")));
            }
            let password = read_password(&password, true)?;
            let user = issuer.add_user(&login, &password, scopes).await?;
            out(format_args!(
                "added user {} (id {}) with scopes [{}]",
                user.login, user.id, user.scopes
            ))
        }
        UserCommand::Passwd { login, password } => {
            let user = app.user(&login).await?;
            let password = read_password(&password, true)?;
            let version = issuer.set_password(&user.id, &password, None).await?;
            out(format_args!(
                "password of {} changed; every earlier token and session ended (token version {version})",
                user.login
            ))
        }
        UserCommand::Disable { login } => {
            let user = app.user(&login).await?;
            issuer.disable_user(&user.id).await?;
            out(format_args!(
                "disabled {}; every token and session ended",
                user.login
            ))
        }
        UserCommand::Enable { login } => {
            let user = app.user(&login).await?;
            issuer.enable_user(&user.id).await?;
            out(format_args!("enabled {}", user.login))
        }
        UserCommand::List => {
            let mut users = issuer.list_users().await?;
            users.sort_by(|a, b| a.login.cmp(&b.login));
            out(format_args!(
                "{:<24} {:<18} {:<9} SCOPES",
                "LOGIN", "ID", "STATUS"
            ))?;
            for user in users {
                let status = if user.active { "active" } else { "disabled" };
                out(format_args!(
                    "{:<24} {:<18} {:<9} {}",
                    user.login, user.id, status, user.scopes
                ))?;
            }
            Ok(())
        }
        UserCommand::Grant {
            login,
            scopes,
            replace,
        } => {
            let user = app.user(&login).await?;
            let given = parse_scopes(&scopes.join(" "))?;
            let ceiling = if replace {
                given
            } else {
                user.scopes.union(&given)
            };
            issuer.set_user_scopes(&user.id, &ceiling).await?;
            let beyond = ceiling.difference(&app.settings.grantable_scopes);
            out(format_args!(
                "{} may now be granted [{ceiling}]",
                user.login
            ))?;
            if !beyond.is_empty() {
                out(format_args!(
                    "note: [{beyond}] is outside grantable_scopes, so no token will carry it"
                ))?;
            }
            Ok(())
        }
    }
}

fn parse_scopes(text: &str) -> Result<Scopes, CliError> {
    Scopes::parse(text.trim()).map_err(|e| CliError::Usage(format!("scopes `{text}`: {e}")))
}

/// The password from stdin's first line (`--password-stdin`) or a prompt without
/// echo, asked twice when `confirm`.
fn read_password(source: &PasswordSource, confirm: bool) -> Result<Zeroizing<String>, CliError> {
    let password = if source.password_stdin {
        let mut line = Zeroizing::new(String::new());
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(CliError::io("cannot read the password from stdin"))?;
        Zeroizing::new(line.trim_end_matches(['\n', '\r']).to_owned())
    } else {
        let first = Zeroizing::new(rpassword::prompt_password("Password: ").map_err(
            CliError::io("cannot read the password (use --password-stdin without a terminal)"),
        )?);
        if confirm {
            let again = Zeroizing::new(
                rpassword::prompt_password("Again: ")
                    .map_err(CliError::io("cannot read the password"))?,
            );
            if *again != *first {
                return Err(CliError::Usage("the passwords differ".to_owned()));
            }
        }
        first
    };
    if password.is_empty() {
        return Err(CliError::Usage("the password is empty".to_owned()));
    }
    Ok(password)
}
