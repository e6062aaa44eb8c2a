//! `imgbed policy …`: check a policy component and run its decisions on sample
//! input in the sandbox, without a server.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use serde_json::json;
use sha2::{Digest, Sha256};

use imgbed::policy::{Limits, Media, PolicyRuntime, Principal, Upload};

#[derive(Subcommand, Debug)]
pub enum PolicyCommand {
    /// Compile, type-check, configure and self-test a component; print its info.
    Check {
        /// The component (.wasm).
        file: PathBuf,
        #[command(flatten)]
        sandbox: SandboxArgs,
    },
    /// Run one decision of a component on sample input; prints JSON.
    Run {
        /// The component (.wasm); `builtin` for the built-in policy.
        file: String,
        #[command(flatten)]
        sandbox: SandboxArgs,
        #[command(subcommand)]
        call: Call,
    },
}

#[derive(Args, Debug)]
pub struct SandboxArgs {
    /// A setting for the policy, `key=value` (repeatable).
    #[arg(long = "setting", value_parser = key_value)]
    settings: Vec<(String, String)>,
    /// Memory cap, MiB.
    #[arg(long, default_value_t = 256)]
    memory_mb: usize,
    /// Deadline per call, ms.
    #[arg(long, default_value_t = 2000)]
    deadline_ms: u64,
}

#[derive(Subcommand, Debug)]
pub enum Call {
    /// Inspect sample files.
    Inspect { files: Vec<PathBuf> },
    /// Inspect a sample file, then name it under a rule.
    Name {
        file: PathBuf,
        #[arg(long, default_value = "base64")]
        rule: String,
    },
    /// Ask whether a principal may do an action.
    Authorize {
        action: String,
        /// "anonymous", "user" or "admin".
        #[arg(long, default_value = "user")]
        kind: String,
        #[arg(long, default_value = "someone@example.org")]
        id: String,
        /// A request fact, `key=value` (repeatable), e.g. `owner=a@example.org`.
        #[arg(long = "fact", value_parser = key_value)]
        facts: Vec<(String, String)>,
    },
}

fn key_value(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("expected key=value, got {s:?}"))
}

fn runtime(file: &str, sandbox: &SandboxArgs) -> anyhow::Result<Arc<PolicyRuntime>> {
    let bytes = if file == "builtin" {
        imgbed::policy::BUILTIN_POLICY.to_vec()
    } else {
        std::fs::read(file).with_context(|| format!("reading {file}"))?
    };
    let limits = Limits {
        memory_bytes: sandbox.memory_mb << 20,
        deadline: Duration::from_millis(sandbox.deadline_ms),
        workers: 1,
        heavy_workers: 1,
    };
    let defaults = imgbed::config::resolve(imgbed::config::Config::default(), PathBuf::from(".")).policy_settings();
    let mut settings: BTreeMap<String, String> = defaults;
    settings.extend(sandbox.settings.iter().cloned());
    let rt = PolicyRuntime::new(&bytes, limits, settings, imgbed::policy::no_storage())?;
    Ok(Arc::new(rt))
}

fn upload_of(path: &PathBuf) -> anyhow::Result<(Upload, std::fs::File)> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let upload = Upload {
        filename: path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
        declared_type: String::new(),
        size: bytes.len() as u64,
        digest: hex::encode(Sha256::digest(&bytes)),
        owner: "cli".into(),
        received_at: imgbed::clock::now(),
        attempt: 0,
    };
    Ok((upload, std::fs::File::open(path)?))
}

fn media_json(m: &Media) -> serde_json::Value {
    let kind = imgbed::policy::kind_name(m.kind);
    json!({"kind": kind, "format": m.format, "extension": m.extension, "mime": m.mime,
           "width": m.width, "height": m.height, "frames": m.frames, "duration_ms": m.duration_ms,
           "codec": m.codec})
}

/// Runs a `policy` subcommand.
pub fn policy(cmd: PolicyCommand) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async move {
        match cmd {
            PolicyCommand::Check { file, sandbox } => {
                let rt = runtime(&file.to_string_lossy(), &sandbox)?;
                let p = rt.active();
                println!("{}", json!({"ok": true, "name": p.info.name, "version": p.info.version, "sha256": p.sha256}));
                Ok(())
            }
            PolicyCommand::Run { file, sandbox, call } => {
                let rt = runtime(&file, &sandbox)?;
                let mut refused = false;
                match call {
                    Call::Inspect { files } => {
                        if files.is_empty() {
                            bail!("no sample files given");
                        }
                        for path in files {
                            let (upload, f) = upload_of(&path)?;
                            let out = rt.run(move |s| s.inspect(&upload, &f)).await?;
                            refused |= out.is_err();
                            let v = match out {
                                Ok(m) => json!({"file": path, "ok": media_json(&m)}),
                                Err(r) => json!({"file": path, "rejected": {"status": r.status, "code": r.code, "message": r.message}}),
                            };
                            println!("{v}");
                        }
                    }
                    Call::Name { file, rule } => {
                        let (upload, f) = upload_of(&file)?;
                        let out = rt
                            .run(move |s| match s.inspect(&upload, &f)? {
                                Ok(m) => s.name(&upload, &m, &rule),
                                Err(r) => Ok(Err(r)),
                            })
                            .await?;
                        refused = out.is_err();
                        match out {
                            Ok(name) => println!("{}", json!({"file": file, "name": name})),
                            Err(r) => println!("{}", json!({"file": file, "rejected": {"status": r.status, "code": r.code, "message": r.message}})),
                        }
                    }
                    Call::Authorize { action, kind, id, facts } => {
                        let p = Principal { kind, id, attributes: Vec::new() };
                        let out = rt.run(move |s| s.authorize(&action, &p, &facts)).await?;
                        refused = out.is_err();
                        match out {
                            Ok(()) => println!("{}", json!({"decision": "allow"})),
                            Err(r) => println!("{}", json!({"decision": "deny", "status": r.status, "code": r.code, "message": r.message})),
                        }
                    }
                }
                if refused {
                    std::process::exit(3);
                }
                Ok(())
            }
        }
    })
}
