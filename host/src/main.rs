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
    /// Work with the config file.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Copy accounts, records, files and thumbnails from this config's storage to the
    /// storage another config names (e.g. SQLite + files to MongoDB), then check counts.
    /// Idempotent: run it again after an interruption.
    Migrate {
        /// The target's config file (its `database` section says where to copy to).
        #[arg(long)]
        to: PathBuf,
    },
    /// Check that every record has its file and every file its record. A dry run unless
    /// told otherwise: it prints what it finds and what it would do, as JSON.
    Fsck {
        /// Finish interrupted deletes, move files without records to quarantine, and
        /// delete records whose file is missing.
        #[arg(long)]
        repair: bool,
        /// Delete what is in quarantine.
        #[arg(long)]
        purge_quarantine: bool,
        /// Leave files younger than this alone (uploads in flight on a running server).
        #[arg(long, default_value_t = 60)]
        min_age_s: u64,
    },
    /// Bring in an install of the original mgek img_bed: its accounts (their tokens keep
    /// working) and images (judged by the policy; refused files are reported).
    ImportOriginal {
        /// The original's SQLite file (e.g. test.db).
        #[arg(long, conflicts_with = "mongo", required_unless_present = "mongo")]
        sqlite: Option<PathBuf>,
        /// The original's MongoDB database, as a connection string naming the database.
        #[arg(long)]
        mongo: Option<String>,
        /// The original's image folder.
        #[arg(long)]
        images: PathBuf,
    },
    /// Back up this config's storage into a new folder while the server runs (see README).
    Backup {
        /// A new or empty folder.
        dir: PathBuf,
    },
    /// Copy a backup as it is into this config's storage, which must be empty.
    Restore {
        /// A folder `imgbed backup` wrote.
        dir: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
enum ConfigCommand {
    /// Validate the config file and IMGBED__… overrides without starting (the file is not created).
    Check,
}

/// How long in-flight requests get to finish after SIGTERM/SIGINT.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(30);

fn main() -> anyhow::Result<()> {
    imgbed::memory::configure();
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == imgbed::policy::compiler::CHILD_ARG) {
        // The server compiling a policy out of process (not a command for people).
        std::process::exit(imgbed::policy::compiler::child_main(&args[2..]));
    }
    imgbed::policy::compiler::enable();
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Policy(cmd)) => {
            let _guard = init_logging("warn", false, None);
            return tools::policy(cmd);
        }
        Some(Command::Config(ConfigCommand::Check)) => {
            if !cli.config.exists() {
                anyhow::bail!("config file {} does not exist", cli.config.display());
            }
            let settings = imgbed::config::load(&cli.config, cli.data_dir.as_deref())?;
            imgbed::config::layout::check(&settings).map_err(anyhow::Error::msg)?;
            let warnings: Vec<String> = imgbed::config::layout::too_open(&settings)
                .into_iter()
                .map(|(p, mode)| format!("{} has mode {mode:o} but may hold secrets: chmod 600 it", p.display()))
                .collect();
            println!(
                "{}",
                serde_json::json!({
                    "ok": true,
                    "warnings": warnings,
                    "config": cli.config,
                    "images": settings.image_dir,
                    "database": match settings.config.database.engine.as_str() {
                        "mongo" => serde_json::json!(imgbed::store::redact_uri(&settings.config.database.mongo)),
                        _ => serde_json::json!(settings.sqlite_path),
                    },
                    "blob": settings.config.database.blob,
                    "policy": settings.policy_file.as_ref().map_or("built-in".to_string(), |p| p.display().to_string()),
                    "logs": settings.log_dir,
                })
            );
            return Ok(());
        }
        Some(Command::Migrate { to }) => {
            let _guard = init_logging("warn", false, None);
            let from = imgbed::config::load(&cli.config, cli.data_dir.as_deref())?;
            let target = imgbed::config::load(&to, None)?;
            return run_tool(async move {
                let a = imgbed::open_storage(&from).await.context("opening the source storage")?;
                let b = imgbed::open_storage(&target).await.context("opening the target storage")?;
                imgbed::migrate::migrate(&a, &b).await
            });
        }
        Some(Command::Fsck { repair, purge_quarantine, min_age_s }) => {
            let _guard = init_logging("warn", false, None);
            let settings = imgbed::config::load(&cli.config, cli.data_dir.as_deref())?;
            let options =
                imgbed::fsck::Options { repair, purge_quarantine, min_age: std::time::Duration::from_secs(min_age_s) };
            let report = tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(async {
                let storage = imgbed::open_storage(&settings).await.context("opening the storage")?;
                imgbed::fsck::run(&settings, &storage, options).await
            })?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            return Ok(());
        }
        Some(Command::ImportOriginal { sqlite, mongo, images }) => {
            let _guard = init_logging("warn", false, None);
            let settings = imgbed::config::load(&cli.config, cli.data_dir.as_deref())?;
            return run_tool(async move {
                let to = imgbed::open_storage(&settings).await.context("opening the storage")?;
                let source = match (&sqlite, &mongo) {
                    (Some(p), _) => imgbed::migrate::OriginalSource::Sqlite(p),
                    (None, Some(uri)) => imgbed::migrate::OriginalSource::Mongo(uri),
                    (None, None) => anyhow::bail!("--sqlite or --mongo is required"),
                };
                imgbed::migrate::import_original(&settings, &to, source, &images).await
            });
        }
        Some(Command::Backup { dir }) => {
            let _guard = init_logging("warn", false, None);
            let settings = imgbed::config::load(&cli.config, cli.data_dir.as_deref())?;
            return run_tool(async move { imgbed::backup::backup(&settings, &dir).await });
        }
        Some(Command::Restore { dir }) => {
            let _guard = init_logging("warn", false, None);
            let settings = imgbed::config::load(&cli.config, cli.data_dir.as_deref())?;
            return run_tool(async move { imgbed::backup::restore(&settings, &dir).await });
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
    // Links are derived from the port: resolve again with the one given on the command line.
    let config_file = settings.config_file.take();
    settings = imgbed::config::resolve(settings.config.clone(), settings.base_dir.clone());
    settings.config_file = config_file;
    if let Err((key, message)) = imgbed::config::validate(&settings.config) {
        anyhow::bail!("{key}: {message}");
    }
    // Before anything is created or touched: places inside one another are refused.
    imgbed::config::layout::check(&settings).map_err(anyhow::Error::msg)?;
    let _log_guard = init_logging(&settings.config.log.level, settings.config.debug, Some(&settings));
    for (path, mode) in imgbed::config::layout::too_open(&settings) {
        tracing::warn!(file = %path.display(), mode = %format!("{mode:o}"),
            "readable by others but may hold secrets: chmod 600 it");
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?
        .block_on(serve(settings))
}

/// Runs a storage tool and prints its report as JSON.
fn run_tool<R: serde::Serialize>(work: impl std::future::Future<Output = anyhow::Result<R>>) -> anyhow::Result<()> {
    let report = tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(work)?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

/// Logs to stderr and, for the server, to daily files `imgbed.YYYY-MM-DD.log` in the
/// log folder, keeping `log.keep_days` of them. The guard flushes the file on exit.
fn init_logging(
    level: &str,
    debug: bool,
    settings: Option<&imgbed::config::Settings>,
) -> Option<tracing_appender::non_blocking::WorkerGuard> {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::Layer;
    // The original's `debug` switch turns on our own debug lines, not every dependency's.
    let level = if debug { format!("{level},imgbed=debug,policy=debug") } else { level.to_string() };
    let filter = || {
        tracing_subscriber::EnvFilter::try_from_env("IMGBED_LOG")
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&level))
    };
    let stderr = tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_filter(filter());
    let mut guard = None;
    let file = settings.filter(|s| s.config.log.files).and_then(|s| {
        // The appender prunes old files before it creates the folder: create it first.
        let _ = std::fs::create_dir_all(&s.log_dir);
        let appender = tracing_appender::rolling::RollingFileAppender::builder()
            .rotation(tracing_appender::rolling::Rotation::DAILY)
            .filename_prefix("imgbed")
            .filename_suffix("log")
            .max_log_files(s.config.log.keep_days.max(1))
            .build(&s.log_dir);
        match appender {
            Ok(appender) => {
                let (writer, g) = tracing_appender::non_blocking(appender);
                guard = Some(g);
                Some(tracing_subscriber::fmt::layer().with_ansi(false).with_writer(writer).with_filter(filter()))
            }
            Err(e) => {
                eprintln!("warning: cannot write log files in {}: {e}", s.log_dir.display());
                None
            }
        }
    });
    tracing_subscriber::registry().with(stderr).with(file).init();
    guard
}

async fn serve(settings: imgbed::config::Settings) -> anyhow::Result<()> {
    let addr = SocketAddr::new(settings.config.bind.parse()?, settings.config.port);
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("listening on {addr}"))?;
    let bound = listener.local_addr()?;
    // With port 0 the real port is known only now; links derived from it must use it.
    let settings = if settings.config.port != bound.port() {
        let mut config = settings.config.clone();
        config.port = bound.port();
        let mut resolved = imgbed::config::resolve(config, settings.base_dir.clone());
        resolved.config_file = settings.config_file.clone();
        resolved
    } else {
        settings
    };
    let state = imgbed::build_state(settings).await?;
    imgbed::spawn_reloaders(state.clone());
    let app = imgbed::http::router(state.clone());
    let c = &state.settings.config.connections;
    let limits = imgbed::http::listen::ConnLimits {
        header_timeout: std::time::Duration::from_secs(c.header_timeout_s),
        max: imgbed::http::listen::descriptor_room(c.max),
        max_per_ip: c.max_per_ip,
    };
    let (filter, stats) = (state.ip_filter.clone(), state.conn_stats.clone());
    // Tests and scripts read this line to find the port.
    println!("imgbed listening on http://{bound}");
    tracing::info!(%bound, max_connections = limits.max, "listening");
    imgbed::spawn_reconciliation(state);
    let (stopping_tx, mut stopping) = tokio::sync::watch::channel(false);
    let server = imgbed::http::listen::serve(listener, app, limits, filter, stats, async move {
        shutdown().await;
        tracing::info!("shutting down: no new connections, finishing requests in flight");
        let _ = stopping_tx.send(true);
    });
    // In-flight requests (uploads) get a bounded time to finish.
    let deadline = async move {
        let _ = stopping.wait_for(|s| *s).await;
        tokio::time::sleep(SHUTDOWN_GRACE).await;
    };
    tokio::select! {
        () = server => {}
        () = deadline => tracing::warn!("requests still in flight after {SHUTDOWN_GRACE:?}; stopping anyway"),
    }
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
