//! `sealed-secrets-controller`: flags, logging, and the run loop.

use clap::Parser;
use sealed_controller::flags::Flags;
use sealed_controller::{logging, run};
use std::process::ExitCode;

fn main() -> ExitCode {
    let flags = match Flags::try_parse() {
        Ok(flags) => flags,
        Err(error) => {
            let _ = error.print();
            return ExitCode::from(if error.use_stderr() { 2 } else { 0 });
        }
    };
    if flags.version {
        println!("controller version: {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    logging::init(&flags.log_level, &flags.log_format, flags.log_info_stdout);
    // kube's TLS uses rustls on aws-lc-rs, the same backend as our crypto.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let checked = run::check(&flags)?;
        let connection = run::connect(&flags).await?;
        run::run(flags, checked, connection).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = %format!("{error:#}"), "controller stopped");
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
