//! `kubeseal keys ...`: the controller's key inventory (`list`, `dependents`), a key's
//! retirement with a dry run of what would stop opening (`retire`), and `backup` /
//! `restore` of the key Secrets.
//!
//! The connection flags are the usual ones (the kubectl client flags,
//! `--controller-name`, `--controller-namespace`), accepted before `keys` as well as
//! after the verb; after the verb wins.

mod api;
mod backup;
mod inventory;
mod report;

use crate::flags::{Connection, Flags, go_bool};
use anyhow::Result;
use clap::{Args, Subcommand, ValueEnum};

/// `kubeseal keys VERB`.
#[derive(Args, Debug)]
#[command(
    subcommand_required = true,
    arg_required_else_help = true,
    disable_help_subcommand = true
)]
pub struct KeysArgs {
    #[command(subcommand)]
    pub verb: Verb,
}

#[derive(Subcommand, Debug)]
pub enum Verb {
    /// One row per controller key: fingerprint, Secret, created, expires, whether it seals, and how many SealedSecrets in the cluster it opens
    List {
        #[command(flatten)]
        output: OutputArg,
        #[command(flatten)]
        connection: Connection,
    },
    /// The SealedSecrets in the cluster whose current status says KEY opened them, and those that cannot be attributed to any key
    Dependents {
        #[command(flatten)]
        key: KeyArg,
        #[command(flatten)]
        output: OutputArg,
        #[command(flatten)]
        connection: Connection,
    },
    /// Retire KEY by relabelling its Secret `retired`; with --dry-run, only say what would stop opening (exit 0 when it is safe)
    Retire {
        #[command(flatten)]
        key: KeyArg,
        /// Change nothing: list what depends on KEY, and exit 0 only when retiring it is safe
        #[arg(long)]
        #[arg(num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", value_parser = go_bool, value_name = "BOOL")]
        dry_run: bool,
        /// Retire KEY even when SealedSecrets depend on it, cannot be attributed, or it is the active (sealing) key
        #[arg(long)]
        #[arg(num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", value_parser = go_bool, value_name = "BOOL")]
        force: bool,
        #[command(flatten)]
        connection: Connection,
    },
    /// Write every key Secret of the controller namespace as one v1 List (it holds the private keys), for `keys restore`, `kubectl apply` or `--recovery-private-key`
    Backup {
        /// File to write (mode 0600, replaced atomically); stdout when not a terminal
        #[arg(short = 'w', long = "file", value_name = "FILE")]
        file: Option<String>,
        #[command(flatten)]
        connection: Connection,
    },
    /// Create the key Secrets of a backup in the controller namespace; existing ones are never overwritten
    Restore {
        /// The backup: a v1 List of key Secrets, key Secrets (YAML or JSON, several documents allowed), as `keys backup` or `kubectl get secret -o yaml` write it
        #[arg(short = 'f', long = "file", value_name = "FILE")]
        file: String,
        /// Change nothing: only say what would be created
        #[arg(long)]
        #[arg(num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false", value_parser = go_bool, value_name = "BOOL")]
        dry_run: bool,
        #[command(flatten)]
        connection: Connection,
    },
}

#[derive(Args, Debug)]
pub struct KeyArg {
    /// A key: its fingerprint (with or without `SHA256:`), a unique prefix of at least 8 characters of it, or its Secret's name
    #[arg(value_name = "KEY")]
    pub key: String,
}

#[derive(Args, Debug)]
pub struct OutputArg {
    /// Output format
    #[arg(
        short = 'o',
        long = "output",
        value_enum,
        ignore_case = true,
        default_value = "table"
    )]
    pub output: Output,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    Table,
    Json,
    Yaml,
}

/// Runs one `keys` verb; `parent` holds the flags given before `keys`.
pub fn run(args: KeysArgs, parent: Flags) -> Result<()> {
    match args.verb {
        Verb::List { output, connection } => {
            report::list(&connection.into_flags(parent), output.output)
        }
        Verb::Dependents {
            key,
            output,
            connection,
        } => report::dependents(&connection.into_flags(parent), &key.key, output.output),
        Verb::Retire {
            key,
            dry_run,
            force,
            connection,
        } => report::retire(&connection.into_flags(parent), &key.key, dry_run, force),
        Verb::Backup { file, connection } => {
            backup::backup(&connection.into_flags(parent), file.as_deref())
        }
        Verb::Restore {
            file,
            dry_run,
            connection,
        } => backup::restore(&connection.into_flags(parent), &file, dry_run),
    }
}
