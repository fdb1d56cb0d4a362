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

use crate::flags::{Flags, KubeFlags, go_bool};
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

/// Where the controller is and how to reach the API server. Unset values come from the
/// same flags given before `keys`, then from their defaults.
#[derive(Args, Debug, Default)]
pub struct Connection {
    /// Name of sealed-secrets controller. [default: sealed-secrets-controller]
    #[arg(
        long,
        env = "SEALED_SECRETS_CONTROLLER_NAME",
        hide_env_values = true,
        value_name = "NAME",
        help_heading = "Controller"
    )]
    pub controller_name: Option<String>,

    /// Namespace of sealed-secrets controller, where its key Secrets are. [default: kube-system]
    #[arg(
        long,
        env = "SEALED_SECRETS_CONTROLLER_NAMESPACE",
        hide_env_values = true,
        value_name = "NAMESPACE",
        help_heading = "Controller"
    )]
    pub controller_namespace: Option<String>,

    #[command(flatten)]
    pub kube: KubeFlags,
}

/// Runs one `keys` verb; `parent` holds the flags given before `keys`.
pub fn run(args: KeysArgs, parent: Flags) -> Result<()> {
    match args.verb {
        Verb::List { output, connection } => {
            report::list(&flags(connection, parent), output.output)
        }
        Verb::Dependents {
            key,
            output,
            connection,
        } => report::dependents(&flags(connection, parent), &key.key, output.output),
        Verb::Retire {
            key,
            dry_run,
            force,
            connection,
        } => report::retire(&flags(connection, parent), &key.key, dry_run, force),
        Verb::Backup { file, connection } => {
            backup::backup(&flags(connection, parent), file.as_deref())
        }
        Verb::Restore {
            file,
            dry_run,
            connection,
        } => backup::restore(&flags(connection, parent), &file, dry_run),
    }
}

/// The `Flags` the online client takes: the verb's connection flags, else those given
/// before `keys`.
fn flags(connection: Connection, parent: Flags) -> Flags {
    Flags {
        controller_name: connection.controller_name.unwrap_or(parent.controller_name),
        controller_namespace: connection
            .controller_namespace
            .unwrap_or(parent.controller_namespace),
        kube: merge(connection.kube, parent.kube),
        ..Flags::default()
    }
}

/// Each kubectl flag from `own`, else from `parent`.
fn merge(own: KubeFlags, parent: KubeFlags) -> KubeFlags {
    let KubeFlags {
        kubeconfig,
        namespace,
        context,
        cluster,
        user,
        server,
        token,
        certificate_authority,
        client_certificate,
        client_key,
        insecure_skip_tls_verify,
        tls_server_name,
        request_timeout,
        as_user,
        as_group,
        as_uid,
        username,
        password,
        proxy_url,
        disable_compression,
    } = own;
    let default_timeout = |t: &str| t.trim().is_empty() || t.trim() == "0";
    KubeFlags {
        kubeconfig: kubeconfig.or(parent.kubeconfig),
        namespace: namespace.or(parent.namespace),
        context: context.or(parent.context),
        cluster: cluster.or(parent.cluster),
        user: user.or(parent.user),
        server: server.or(parent.server),
        token: token.or(parent.token),
        certificate_authority: certificate_authority.or(parent.certificate_authority),
        client_certificate: client_certificate.or(parent.client_certificate),
        client_key: client_key.or(parent.client_key),
        insecure_skip_tls_verify: insecure_skip_tls_verify || parent.insecure_skip_tls_verify,
        tls_server_name: tls_server_name.or(parent.tls_server_name),
        request_timeout: if default_timeout(&request_timeout) {
            parent.request_timeout
        } else {
            request_timeout
        },
        as_user: as_user.or(parent.as_user),
        as_group: if as_group.is_empty() {
            parent.as_group
        } else {
            as_group
        },
        as_uid: as_uid.or(parent.as_uid),
        username: username.or(parent.username),
        password: password.or(parent.password),
        proxy_url: proxy_url.or(parent.proxy_url),
        disable_compression: disable_compression || parent.disable_compression,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_after_the_verb_win_over_those_before_keys() {
        let parent = Flags {
            controller_name: "sealed-secrets-controller".into(),
            controller_namespace: "kube-system".into(),
            kube: KubeFlags {
                kubeconfig: Some("parent".into()),
                context: Some("ctx".into()),
                request_timeout: "5s".into(),
                as_group: vec!["g".into()],
                ..KubeFlags::default()
            },
            ..Flags::default()
        };
        let own = Connection {
            controller_namespace: Some("security".into()),
            kube: KubeFlags {
                kubeconfig: Some("own".into()),
                request_timeout: "0".into(),
                ..KubeFlags::default()
            },
            ..Connection::default()
        };
        let f = flags(own, parent);
        assert_eq!(f.controller_name, "sealed-secrets-controller");
        assert_eq!(f.controller_namespace, "security");
        assert_eq!(f.kube.kubeconfig.as_deref(), Some("own"));
        assert_eq!(f.kube.context.as_deref(), Some("ctx"));
        assert_eq!(f.kube.request_timeout, "5s");
        assert_eq!(f.kube.as_group, ["g"]);
    }
}
