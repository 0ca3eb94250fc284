//! `bearer`: serve an issuer and a demo API in one command, and manage keys, users,
//! clients and tokens. `bearer --help` lists the commands; the workspace README has
//! the walkthrough.

mod app;
mod cli;
mod commands;
mod config;
mod demo_api;
mod error;
mod keys;
mod page;
mod serve;

use std::io::Write as _;
use std::process::ExitCode;

use clap::Parser as _;

use crate::cli::{Cli, Command};
use crate::config::Settings;
use crate::error::CliError;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(std::io::stderr().lock(), "bearer: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

fn run(cli: Cli) -> Result<(), CliError> {
    let listen_flag = match &cli.command {
        Command::Serve(args) => args.listen.clone(),
        _ => None,
    };
    let settings = config::load(
        cli.config.as_deref(),
        |name| std::env::var(name).ok(),
        listen_flag.as_deref(),
    )?;
    init_logging(&settings, matches!(cli.command, Command::Serve(_)));

    // Commands that only touch the key file need no runtime and no store.
    match &cli.command {
        Command::Keygen(args) => return commands::keys::keygen(&settings, args),
        Command::Keys(command) => return commands::keys::run(&settings, command),
        Command::Verify(args) => return commands::token::verify(&settings, args),
        Command::Jwks => return commands::token::jwks(&settings),
        _ => {}
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(CliError::io("cannot start the async runtime"))?;
    runtime.block_on(run_async(cli.command, &settings))
}

async fn run_async(command: Command, settings: &Settings) -> Result<(), CliError> {
    match command {
        Command::Serve(_) => serve::run(settings).await,
        Command::Migrate => {
            issuer::store::migrate(&app::store_config(settings)).await?;
            commands::out("migrations are up to date")
        }
        command => {
            let app = app::App::open(settings).await?;
            match command {
                Command::User(c) => commands::user::run(&app, c).await,
                Command::Client(c) => commands::client::run(&app, c).await,
                Command::Mint(args) => commands::token::mint(&app, &args).await,
                _ => Err(CliError::Usage("unexpected command".to_owned())),
            }
        }
    }
}

/// Logs go to stderr: `serve` logs at the configured level, the other commands only
/// warnings and errors, so their stdout stays clean for scripts.
fn init_logging(settings: &Settings, serving: bool) {
    let level = if serving {
        settings.log
    } else {
        tracing::Level::WARN.min(settings.log)
    };
    let _ = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init();
}
