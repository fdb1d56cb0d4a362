//! The controller under test, run as a local process against the cluster.
//!
//! Its stdout and stderr go to one log file ([`Controller::log`]); the process is killed
//! when the [`Controller`] is dropped or stopped, and at the end of the test in any case.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// How a controller is started. Always `--all-namespaces=false`: a test's controller
/// sees only the test's own namespaces, so tests run in parallel and never touch other
/// controllers' objects.
#[derive(Debug, Clone)]
pub struct ControllerSpec {
    /// `--namespace`: where the key Secrets live (also watched).
    pub home: String,
    /// `--additional-namespaces`: watched besides `home`.
    pub additional: Vec<String>,
    /// `--key-size`; `None` keeps the controller's default (4096).
    pub key_size: Option<u32>,
    /// `--listen-addr`: `127.0.0.1:0` unless a test needs the API server to reach the
    /// controller (the bound port is logged, see [`crate::http::served_address`]).
    pub listen_addr: String,
    /// Further flags, passed as given (e.g. `--skip-recreate`).
    pub extra: Vec<String>,
    /// `--kubeconfig`; `None` is the suite's (e.g. [`crate::forwarder::ApiForwarder::kubeconfig`]
    /// to reach the API server through a forwarder).
    pub kubeconfig: Option<PathBuf>,
}

impl ControllerSpec {
    /// A controller for `home`, with 2048-bit keys (faster to generate; use
    /// [`ControllerSpec::default_key_size`] where the size matters).
    pub fn new(home: &str) -> ControllerSpec {
        ControllerSpec {
            home: home.to_owned(),
            additional: Vec::new(),
            key_size: Some(2048),
            listen_addr: "127.0.0.1:0".to_owned(),
            extra: Vec::new(),
            kubeconfig: None,
        }
    }

    /// Reach the API server with `kubeconfig` instead of the suite's.
    pub fn kubeconfig(mut self, kubeconfig: &Path) -> Self {
        self.kubeconfig = Some(kubeconfig.to_owned());
        self
    }

    /// Serve the HTTP API on `addr` (e.g. `0.0.0.0:0`) instead of `127.0.0.1:0`.
    pub fn listen_on(mut self, addr: &str) -> Self {
        self.listen_addr = addr.to_owned();
        self
    }

    /// Also watch `namespace`.
    pub fn watch(mut self, namespace: &str) -> Self {
        self.additional.push(namespace.to_owned());
        self
    }

    /// Leave `--key-size` to the controller's default.
    pub fn default_key_size(mut self) -> Self {
        self.key_size = None;
        self
    }

    /// One more command-line argument.
    pub fn arg(mut self, arg: &str) -> Self {
        self.extra.push(arg.to_owned());
        self
    }

    /// The full command line (without the program).
    pub fn args(&self, kubeconfig: &Path) -> Vec<String> {
        let mut args = vec![
            "--kubeconfig".to_owned(),
            kubeconfig.display().to_string(),
            "--namespace".to_owned(),
            self.home.clone(),
            "--all-namespaces=false".to_owned(),
        ];
        if !self.additional.is_empty() {
            args.push("--additional-namespaces".to_owned());
            args.push(self.additional.join(","));
        }
        if let Some(bits) = self.key_size {
            args.push("--key-size".to_owned());
            args.push(bits.to_string());
        }
        // Never fixed ports: the controller logs the ports it bound.
        args.extend([
            "--listen-addr".to_owned(),
            self.listen_addr.clone(),
            "--listen-metrics-addr".to_owned(),
            "127.0.0.1:0".to_owned(),
        ]);
        args.extend(self.extra.iter().cloned());
        args
    }
}

/// The shared state of one controller process (also held by the test context, which
/// watches it for unexpected exits and prints its log on failure).
#[derive(Debug)]
pub struct Proc {
    pub label: String,
    pub command_line: String,
    pub log_path: PathBuf,
    child: Mutex<Option<Child>>,
    exit: Mutex<Option<ExitStatus>>,
    stopped: AtomicBool,
}

impl Proc {
    /// Kills the process (SIGKILL) and reaps it. Idempotent.
    pub fn kill(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        let child = self.child.lock().map(|mut c| c.take()).unwrap_or(None);
        if let Some(mut child) = child {
            let _ = child.kill();
            if let Ok(status) = child.wait()
                && let Ok(mut exit) = self.exit.lock()
            {
                *exit = Some(status);
            }
        }
    }

    /// SIGTERM (as the kubelet sends on pod deletion), then waits up to `grace` for the
    /// process to exit; SIGKILL after that. Returns how long it took to exit.
    pub fn terminate(&self, grace: std::time::Duration) -> Result<std::time::Duration> {
        self.stopped.store(true, Ordering::SeqCst);
        let started = std::time::Instant::now();
        let pid = match self.child.lock() {
            Ok(guard) => guard.as_ref().map(Child::id),
            Err(_) => None,
        };
        let Some(pid) = pid else {
            return Ok(started.elapsed());
        };
        let sent = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .with_context(|| format!("cannot run kill -TERM {pid}"))?;
        if !sent.success() {
            bail!("kill -TERM {pid} failed ({sent})");
        }
        while started.elapsed() < grace {
            let exited = match self.child.lock() {
                Ok(mut guard) => guard
                    .as_mut()
                    .map(|c| c.try_wait().ok().flatten())
                    .unwrap_or(None),
                Err(_) => None,
            };
            if let Some(status) = exited {
                if let Ok(mut exit) = self.exit.lock() {
                    *exit = Some(status);
                }
                return Ok(started.elapsed());
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        self.kill();
        bail!("{} did not exit within {grace:?} of SIGTERM", self.label)
    }

    /// The process id, while the process has not been reaped.
    pub fn pid(&self) -> Option<u32> {
        match self.child.lock() {
            Ok(guard) => guard.as_ref().map(Child::id),
            Err(_) => None,
        }
    }

    /// `Err` when the process exited although nobody stopped it.
    pub fn check_running(&self) -> Result<()> {
        if self.stopped.load(Ordering::SeqCst) {
            return Ok(());
        }
        let status = match self.child.lock() {
            Ok(mut guard) => match guard.as_mut() {
                Some(child) => child.try_wait().ok().flatten(),
                None => None,
            },
            Err(_) => None,
        };
        if let Some(status) = status {
            bail!(
                "{} exited unexpectedly ({status})\ncommand: {}\n{}",
                self.label,
                self.command_line,
                self.log_tail_block(60)
            );
        }
        Ok(())
    }

    /// The whole log so far.
    pub fn log(&self) -> String {
        match std::fs::read(&self.log_path) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(e) => format!("(cannot read {}: {e})", self.log_path.display()),
        }
    }

    /// The last `lines` lines of the log.
    pub fn log_tail(&self, lines: usize) -> String {
        let log = self.log();
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// The log tail framed for an error message.
    pub fn log_tail_block(&self, lines: usize) -> String {
        format!(
            "--- {} log (last {lines} lines of {}) ---\n{}\n--- end of {} log ---",
            self.label,
            self.log_path.display(),
            self.log_tail(lines),
            self.label
        )
    }
}

/// The level of a controller log line: the word after the timestamp in the text format
/// (`2026-11-22T10:11:36.9Z  WARN message key=value`), `"level"` in JSON.
pub fn log_level(line: &str) -> Option<&str> {
    if let Some(i) = line.find("\"level\":\"") {
        let rest = &line[i + 9..];
        return rest.find('"').map(|end| &rest[..end]);
    }
    line.split_whitespace()
        .nth(1)
        .filter(|w| matches!(*w, "TRACE" | "DEBUG" | "INFO" | "WARN" | "ERROR"))
}

/// The WARN and ERROR lines of a controller log.
pub fn warnings_and_errors(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|line| matches!(log_level(line), Some("WARN" | "ERROR")))
        .collect()
}

/// A running controller; killed when dropped.
#[derive(Debug)]
pub struct Controller {
    proc: Arc<Proc>,
}

impl Controller {
    /// Starts `binary` with `spec`, logging to `log_path`.
    pub fn spawn(
        binary: &Path,
        kubeconfig: &Path,
        spec: &ControllerSpec,
        label: String,
        log_path: PathBuf,
    ) -> Result<Controller> {
        let args = spec.args(kubeconfig);
        let command_line = format!("{} {}", binary.display(), args.join(" "));
        let log = std::fs::File::create(&log_path)
            .with_context(|| format!("cannot create {}", log_path.display()))?;
        let log_err = log
            .try_clone()
            .with_context(|| format!("cannot reopen {}", log_path.display()))?;
        let mut command = Command::new(binary);
        // The controller reads SEALED_SECRETS_<FLAG> variables too: none may leak in.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("SEALED_SECRETS_") {
                command.env_remove(key);
            }
        }
        let child = command
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err))
            .spawn()
            .with_context(|| format!("cannot start {command_line}"))?;
        eprintln!(
            "sealed-e2e: started {label} (pid {}): {command_line}",
            child.id()
        );
        Ok(Controller {
            proc: Arc::new(Proc {
                label,
                command_line,
                log_path,
                child: Mutex::new(Some(child)),
                exit: Mutex::new(None),
                stopped: AtomicBool::new(false),
            }),
        })
    }

    pub fn proc(&self) -> Arc<Proc> {
        Arc::clone(&self.proc)
    }

    /// Everything the controller logged so far.
    pub fn log(&self) -> String {
        self.proc.log()
    }

    /// The last `lines` lines of the log.
    pub fn log_tail(&self, lines: usize) -> String {
        self.proc.log_tail(lines)
    }

    /// The WARN/ERROR lines logged after byte `mark` of the log, split into those
    /// containing `needle` and the others.
    pub fn warnings_since(&self, mark: usize, needle: &str) -> (Vec<String>, Vec<String>) {
        let log = self.log();
        let since = log.get(mark..).unwrap_or_default();
        warnings_and_errors(since)
            .into_iter()
            .map(str::to_owned)
            .partition(|line| line.contains(needle))
    }

    /// `Err` (with the log tail) if the process has exited.
    pub fn check_running(&self) -> Result<()> {
        self.proc.check_running()
    }

    /// Kills the process and waits for it to be gone.
    pub fn stop(self) {
        self.proc.kill();
    }

    /// The process id (`None` once stopped).
    pub fn pid(&self) -> Option<u32> {
        self.proc.pid()
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        self.proc.kill();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_of_text_and_json_lines() {
        let log = "2026-11-22T10:11:36.9Z  INFO Updating sealedsecret=a/b\n\
                   2026-11-22T10:11:37.0Z  WARN unseal failed sealedsecret=a/b error=x\n\
                   2026-11-22T10:11:37.1Z ERROR Error updating SealedSecret status\n\
                   {\"timestamp\":\"t\",\"level\":\"WARN\",\"fields\":{\"message\":\"m\"}}\n\
                   a continuation line WARN\n";
        assert_eq!(
            log_level(log.lines().next().unwrap_or_default()),
            Some("INFO")
        );
        let bad = warnings_and_errors(log);
        assert_eq!(bad.len(), 3, "{bad:?}");
        assert!(bad[1].contains("ERROR"));
    }
}
