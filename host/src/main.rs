//! The `imgbed` binary: the server, and tools for operators.

mod tools;

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

/// imgbed: a self-hosted image host with a hot-swappable WebAssembly policy.
///
/// Without a subcommand it serves. At first start it writes the config file
/// with every default; relative paths in it resolve against the config file's
/// folder (or --data-dir). SIGHUP reloads the policy from `policy.path`.
#[derive(Parser, Debug)]
#[command(name = "imgbed", version)]
struct Cli {
    /// Config file (created with defaults if missing).
    #[arg(long, short, default_value = "config.json", env = "IMGBED_CONFIG", global = true)]
    config: PathBuf,
    /// Base folder for relative paths (images, database, secrets) instead of the config's folder.
    #[arg(long, env = "IMGBED_DATA_DIR", global = true)]
    data_dir: Option<PathBuf>,
    /// Port to listen on (overrides the config; 0 picks a free one).
    #[arg(long, env = "IMGBED_PORT")]
    port: Option<u16>,
    /// Address to listen on (overrides the config).
    #[arg(long, env = "IMGBED_BIND")]
    bind: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Start the server (the default).
    Serve,
    /// Check or try out a policy component without a server.
    #[command(subcommand)]
    Policy(tools::PolicyCommand),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Policy(cmd)) => {
            init_logging("warn", false);
            return tools::policy(cmd);
        }
        Some(Command::Serve) | None => {}
    }
    let mut settings = imgbed::config::load(&cli.config, cli.data_dir.as_deref())?;
    if let Some(port) = cli.port {
        settings.config.port = port;
    }
    if let Some(bind) = cli.bind {
        settings.config.bind = bind;
    }
    if let Err((key, message)) = imgbed::config::validate(&settings.config) {
        anyhow::bail!("{key}: {message}");
    }
    init_logging(&settings.config.log.level, settings.config.debug);
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?
        .block_on(serve(settings))
}

fn init_logging(level: &str, debug: bool) {
    // The original's `debug` switch turns on our own debug lines, not every dependency's.
    let level = if debug { format!("{level},imgbed=debug,policy=debug") } else { level.to_string() };
    let filter = tracing_subscriber::EnvFilter::try_from_env("IMGBED_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
}

async fn serve(settings: imgbed::config::Settings) -> anyhow::Result<()> {
    let addr = SocketAddr::new(settings.config.bind.parse()?, settings.config.port);
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("listening on {addr}"))?;
    let bound = listener.local_addr()?;
    // With port 0 the real port is known only now; links derived from it must use it.
    let settings = if settings.config.port != bound.port() {
        let mut config = settings.config.clone();
        config.port = bound.port();
        imgbed::config::resolve(config, settings.base_dir.clone())
    } else {
        settings
    };
    let state = imgbed::build_state(settings).await?;
    imgbed::spawn_reloaders(state.clone());
    let app = imgbed::http::router(state);
    // Tests and scripts read this line to find the port.
    println!("imgbed listening on http://{bound}");
    tracing::info!(%bound, "listening");
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown())
        .await?;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
