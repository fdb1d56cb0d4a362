//! kubeseal: flags and mode dispatch only; the work lives in `modes` and in
//! `sealed_common`.

mod cluster;
mod flags;
mod io;
mod keys;
mod modes;
mod online;
mod tree;

use anyhow::{Result, bail};
use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{CommandFactory, Parser};
use flags::{Cli, Command, Flags};
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
    if let Some(Command::Completion { shell }) = cli.command {
        clap_complete::generate(
            shell,
            &mut Cli::command(),
            "kubeseal",
            &mut std::io::stdout(),
        );
        return Ok(());
    }
    if let Some(Command::Reencrypt(args)) = cli.command {
        return tree::run(*args, cli.flags);
    }
    if let Some(Command::Keys(args)) = cli.command {
        return keys::run(*args, cli.flags);
    }
    let flags = cli.flags;
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
    let output = flags.sealed_secret_file.as_deref();
    if flags.recovery_unseal {
        return io::write_output(output, &modes::recovery_unseal::run(flags)?);
    }
    if flags.validate {
        return modes::validate::run(flags);
    }
    if flags.re_encrypt {
        return modes::reencrypt::run(flags);
    }
    if flags.fetch_cert {
        return io::write_output(output, &modes::fetch_cert::run(flags)?);
    }
    if let Some(target) = flags.merge_into.as_deref() {
        return modes::merge_into::run(flags, target);
    }
    if flags.raw {
        return io::write_output(output, &modes::raw::run(flags)?);
    }
    io::write_output(output, &modes::seal::run(flags)?)
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
