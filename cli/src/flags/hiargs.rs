//! From parsed flags to plain values: the options of the modes, the connection to the
//! API server and the controller, the format of `keys` reports. Flags given after a
//! subcommand win over the same flags given before it.

use super::defs::{ConnectionArgs, Flags, KeysOutput, KubeFlags};
use crate::cluster::KubeOptions;
use crate::keys::Output;
use crate::modes::Options;
use crate::online::Connection;

impl Flags {
    /// The connection of the top-level command (no subcommand).
    pub fn connection(&self) -> Connection {
        Connection {
            controller_name: self.controller_name.clone(),
            controller_namespace: self.controller_namespace.clone(),
            kube: self.kube.clone().into(),
        }
    }

    /// What the modes take; which mode runs is `main`'s choice.
    pub fn mode_options(&self) -> Options {
        Options {
            input: self.secret_file.clone(),
            output: self.sealed_secret_file.clone(),
            format: self.format.clone(),
            cert: self.cert.clone(),
            recipients: self.recipient.clone(),
            scope: self.scope,
            name: self.name.clone(),
            allow_empty_data: self.allow_empty_data,
            from_file: self.from_file.clone(),
            recovery_private_key: self.recovery_private_key.clone(),
            connection: self.connection(),
        }
    }
}

impl ConnectionArgs {
    /// These flags, else those given before the subcommand (`parent`).
    pub fn resolve(self, parent: &Flags) -> Connection {
        Connection {
            controller_name: self
                .controller_name
                .unwrap_or_else(|| parent.controller_name.clone()),
            controller_namespace: self
                .controller_namespace
                .unwrap_or_else(|| parent.controller_namespace.clone()),
            kube: merge_kube(self.kube, parent.kube.clone()).into(),
        }
    }
}

impl From<KubeFlags> for KubeOptions {
    fn from(f: KubeFlags) -> Self {
        KubeOptions {
            kubeconfig: f.kubeconfig,
            namespace: f.namespace,
            context: f.context,
            cluster: f.cluster,
            user: f.user,
            server: f.server,
            token: f.token,
            certificate_authority: f.certificate_authority,
            client_certificate: f.client_certificate,
            client_key: f.client_key,
            insecure_skip_tls_verify: f.insecure_skip_tls_verify,
            tls_server_name: f.tls_server_name,
            request_timeout: f.request_timeout,
            as_user: f.as_user,
            as_group: f.as_group,
            as_uid: f.as_uid,
            username: f.username,
            password: f.password,
            proxy_url: f.proxy_url,
            disable_compression: f.disable_compression,
        }
    }
}

impl From<KeysOutput> for Output {
    fn from(o: KeysOutput) -> Self {
        match o {
            KeysOutput::Table => Output::Table,
            KeysOutput::Json => Output::Json,
            KeysOutput::Yaml => Output::Yaml,
        }
    }
}

/// Each kubectl flag from `own`, else from `parent`.
fn merge_kube(own: KubeFlags, parent: KubeFlags) -> KubeFlags {
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
    fn flags_after_the_subcommand_win_over_those_before_it() {
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
        let own = ConnectionArgs {
            controller_namespace: Some("security".into()),
            kube: KubeFlags {
                kubeconfig: Some("own".into()),
                request_timeout: "0".into(),
                ..KubeFlags::default()
            },
            ..ConnectionArgs::default()
        };
        let f = own.resolve(&parent);
        assert_eq!(f.controller_name, "sealed-secrets-controller");
        assert_eq!(f.controller_namespace, "security");
        assert_eq!(f.kube.kubeconfig.as_deref(), Some("own"));
        assert_eq!(f.kube.context.as_deref(), Some("ctx"));
        assert_eq!(f.kube.request_timeout, "5s");
        assert_eq!(f.kube.as_group, ["g"]);
    }
}
