//! kubeseal: flags and mode dispatch only; the work lives in `modes`, `keys`, `tree`
//! and in `sealed_common`. Only this file reads `flags`; every other module takes
//! plain values.

mod cluster;
mod flags;
mod io;
mod keys;
mod modes;
mod online;
mod repo_file;
mod tree;

use anyhow::{Result, bail};
use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{CommandFactory, Parser};
use flags::{Cli, Command, Flags, KeysVerb};
use std::io::IsTerminal;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!(
                "error: {}",
                sealed_common::codec::one_line(&format!("{e:#}"))
            );
            ExitCode::from(1)
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    let Cli { command, flags } = cli;
    match command {
        Some(Command::Completion { shell }) => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "kubeseal",
                &mut std::io::stdout(),
            );
            return Ok(());
        }
        Some(Command::Reencrypt(args)) => {
            let args = *args;
            let connection = args.connection.resolve(&flags);
            let offline = tree::OfflineFlags {
                private_keys: args.offline.recovery_private_key,
                cert: args.offline.cert,
                recipients: args.offline.recipient,
                add_recipients: args.offline.add_recipient,
            };
            let resealer = match tree::Offline::from_flags(offline, &connection)? {
                Some(offline) => tree::Resealer::Offline(offline),
                None => tree::Resealer::Online(Box::new(connection)),
            };
            return tree::run(&args.paths, args.dry_run, !args.no_progress, resealer);
        }
        Some(Command::Keys(args)) => return keys_verb(args.verb, &flags),
        None => {}
    }
    if flags.version {
        println!("kubeseal version: v{}", env!("CARGO_PKG_VERSION"));
        return Ok(());
    }
    if !flags.from_file.is_empty() && !flags.raw {
        bail!("--from-file requires --raw");
    }
    if !flags.recovery_private_key.is_empty()
        && !flags.recovery_unseal
        && std::io::stderr().is_terminal()
    {
        eprintln!(
            "warning: ignoring --recovery-private-key because unseal command not chosen with --recovery-unseal"
        );
    }
    dispatch(&flags)
}

/// Upstream's precedence between modes.
fn dispatch(flags: &Flags) -> Result<()> {
    use io::Access::{Private, Shared};
    let mut options = flags.mode_options();
    let output = flags.sealed_secret_file.as_deref();
    if flags.recovery_unseal {
        // Plaintext: 0600, as a key backup.
        return io::write_output(output, &modes::recovery_unseal::run(&options)?, Private);
    }
    if flags.validate {
        return modes::validate::run(&options);
    }
    if flags.re_encrypt {
        return modes::reencrypt::run(&options);
    }
    if flags.fetch_cert {
        return io::write_output(output, &modes::fetch_cert::run(&options)?, Shared);
    }
    // The sealing modes: what the flags leave unset may come from .sealed-secrets.yaml.
    repo_file::apply(&mut options, flags.merge_into.as_deref())?;
    if let Some(target) = flags.merge_into.as_deref() {
        return modes::merge_into::run(&options, target);
    }
    if flags.raw {
        return io::write_output(output, &modes::raw::run(&options)?, Shared);
    }
    io::write_output(output, &modes::seal::run(&options)?, Shared)
}

/// One `kubeseal keys` verb; `parent` holds the flags given before `keys`.
fn keys_verb(verb: KeysVerb, parent: &Flags) -> Result<()> {
    match verb {
        KeysVerb::List { output, connection } => {
            keys::list(&connection.resolve(parent), output.output.into())
        }
        KeysVerb::Dependents {
            key,
            output,
            connection,
        } => keys::dependents(&connection.resolve(parent), &key.key, output.output.into()),
        KeysVerb::Retire {
            key,
            dry_run,
            force,
            connection,
        } => keys::retire(&connection.resolve(parent), &key.key, dry_run, force),
        KeysVerb::Backup { file, connection } => {
            keys::backup(&connection.resolve(parent), file.as_deref())
        }
        KeysVerb::Restore {
            file,
            dry_run,
            connection,
        } => keys::restore(&connection.resolve(parent), &file, dry_run),
    }
}

/// Reports a bad command line as upstream's pflag does (exit code 2), in one line.
fn usage_error(e: clap::Error) -> ExitCode {
    match e.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        _ => {}
    }
    let text = |kind| match e.get(kind) {
        Some(ContextValue::String(s)) => Some(s.clone()),
        _ => None,
    };
    let message = match (
        e.kind(),
        text(ContextKind::InvalidArg),
        text(ContextKind::InvalidValue),
    ) {
        (ErrorKind::ValueValidation | ErrorKind::InvalidValue, Some(arg), Some(value)) => {
            let flag = arg.split([' ', '=']).next().unwrap_or(&arg).to_owned();
            let reason = std::error::Error::source(&e)
                .map(|s| s.to_string())
                .unwrap_or_else(|| first_line(&e.render().to_string()));
            format!("invalid argument {value:?} for {flag:?} flag: {reason}")
        }
        _ => first_line(&e.render().to_string()),
    };
    eprintln!("error: {message}");
    eprintln!(
        "Usage of kubeseal: kubeseal [FLAGS] < secret.yaml > sealed-secret.json (kubeseal --help lists the flags)"
    );
    ExitCode::from(2)
}

fn first_line(text: &str) -> String {
    let line = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default();
    line.trim_start_matches("error: ").trim().to_owned()
}
