//! Logs as upstream's controller: text or JSON, INFO to stdout and WARN/ERROR to
//! stderr (`--log-info-stdout`), level from `--log-level` (or `RUST_LOG`).

use tracing::Level;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::writer::MakeWriterExt;

/// Maps upstream's slog level names; unknown names keep INFO, as slog does.
pub fn level(name: &str) -> Level {
    match name.trim().to_ascii_uppercase().as_str() {
        "DEBUG" => Level::DEBUG,
        "WARN" | "WARNING" => Level::WARN,
        "ERROR" => Level::ERROR,
        "TRACE" => Level::TRACE,
        _ => Level::INFO,
    }
}

pub fn init(log_level: &str, format: &str, info_to_stdout: bool) {
    let level = level(log_level);
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new(format!(
            "{level},hyper=warn,hyper_util=warn,tower=warn,rustls=warn"
        ))
    });
    let errors = std::io::stderr.with_max_level(Level::WARN);
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    let result = match (format, info_to_stdout) {
        ("json", true) => builder
            .json()
            .with_writer(errors.and(std::io::stdout.with_min_level(Level::INFO)))
            .try_init(),
        ("json", false) => builder.json().with_writer(std::io::stderr).try_init(),
        (_, true) => builder
            .with_ansi(false)
            .with_writer(errors.and(std::io::stdout.with_min_level(Level::INFO)))
            .try_init(),
        (_, false) => builder
            .with_ansi(false)
            .with_writer(std::io::stderr)
            .try_init(),
    };
    if let Err(error) = result {
        eprintln!("warning: logging already initialised: {error}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_level_names() {
        assert_eq!(level("INFO"), Level::INFO);
        assert_eq!(level("error"), Level::ERROR);
        assert_eq!(level("bogus"), Level::INFO);
    }
}
