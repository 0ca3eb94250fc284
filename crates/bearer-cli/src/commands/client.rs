//! `bearer client add|list|remove`: callers using the client_credentials grant.

use issuer::ClientKind;
use token_core::Scopes;

use super::out;
use crate::app::App;
use crate::cli::ClientCommand;
use crate::error::CliError;

pub(crate) async fn run(app: &App, command: ClientCommand) -> Result<(), CliError> {
    let issuer = &app.issuer;
    match command {
        ClientCommand::Add { id, scopes } => {
            let scopes = Scopes::parse(scopes.trim())
                .map_err(|e| CliError::Usage(format!("scopes `{scopes}`: {e}")))?;
            if id.trim().is_empty() {
                return Err(CliError::Usage("the client id is empty".to_owned()));
            }
            if issuer.list_clients().await?.iter().any(|c| c.id == id) {
                return Err(CliError::Usage(format!("client `{id}` already exists")));
            }
            let (client, secret) = issuer.add_confidential_client(&id, scopes).await?;
            // The secret is shown this once; only its hash is stored.
            out(format_args!("client_id={}", client.id))?;
            out(format_args!("client_secret={}", secret.expose()))
        }
        ClientCommand::List => {
            let mut clients = issuer.list_clients().await?;
            clients.sort_by(|a, b| a.id.cmp(&b.id));
            out(format_args!("{:<24} {:<13} SCOPES", "ID", "KIND"))?;
            for client in clients {
                let (kind, scopes) = match &client.kind {
                    ClientKind::Confidential { scopes, .. } => ("confidential", scopes.to_string()),
                    ClientKind::Public { transport } => {
                        ("public", format!("({transport:?} transport)"))
                    }
                };
                out(format_args!("{:<24} {:<13} {scopes}", client.id, kind))?;
            }
            Ok(())
        }
        ClientCommand::Remove { id } => {
            if issuer.remove_client(&id).await? {
                out(format_args!("removed client {id}"))
            } else {
                Err(CliError::NotFound(format!("no client `{id}`")))
            }
        }
    }
}
