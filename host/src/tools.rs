//! `imgbed policy …`: check a policy component and run its decisions on sample
//! input in the sandbox, without a server; make signing keys, sign and verify.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
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
    /// Make an Ed25519 key pair for signing policies: DIR/NAME.key (private, mode 0600)
    /// and DIR/NAME.pub (the public key, for `policy.trusted_keys`).
    Keygen {
        /// Folder to write the key files into (created if missing).
        #[arg(long)]
        out: PathBuf,
        /// File name of the pair, without extension.
        #[arg(long, default_value = "imgbed-policy")]
        name: String,
    },
    /// Sign a component: writes the detached signature to COMPONENT.sig (base64).
    Sign {
        /// The private key file `keygen` wrote.
        #[arg(long)]
        key: PathBuf,
        /// The component (.wasm).
        file: PathBuf,
        /// Where to write the signature instead of FILE.sig.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Check a component's detached signature (FILE.sig, or --sig) against public keys;
    /// exit status 3 when no key verifies it.
    Verify {
        /// A trusted public key: its text (base64) or a file holding it (repeatable).
        #[arg(long = "key", required = true)]
        keys: Vec<String>,
        /// The component (.wasm).
        file: PathBuf,
        /// The signature file instead of FILE.sig.
        #[arg(long)]
        sig: Option<PathBuf>,
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
    /// Ask whether a file may be kept by an owner who stored `--images` files of
    /// `--bytes` bytes so far (`admit`).
    Admit {
        file: PathBuf,
        #[arg(long, default_value_t = 0)]
        images: u64,
        #[arg(long, default_value_t = 0)]
        bytes: u64,
        #[arg(long, default_value = "someone@example.org")]
        id: String,
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
    };
    Ok((upload, std::fs::File::open(path)?))
}

fn media_json(m: &Media) -> serde_json::Value {
    let kind = imgbed::policy::media_kind_name(m.kind);
    json!({"kind": kind, "format": m.format, "extension": m.extension, "mime": m.mime,
           "width": m.width, "height": m.height, "frames": m.frames, "duration_ms": m.duration_ms,
           "codec": m.codec})
}

/// Writes `text` to `path` through a temp file (a watcher never sees half of it).
fn write_atomically(path: &Path, text: &str) -> anyhow::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    std::fs::write(&tmp, text).with_context(|| format!("writing {}", PathBuf::from(&tmp).display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
}

fn keygen(out: &Path, name: &str) -> anyhow::Result<()> {
    if name.is_empty() || name.contains('/') {
        bail!("--name must be a file name, got {name:?}");
    }
    let (private_path, public_path) = (out.join(format!("{name}.key")), out.join(format!("{name}.pub")));
    for p in [&private_path, &public_path] {
        if p.exists() {
            bail!("{} exists: remove it first, or pick another --name", p.display());
        }
    }
    let (private, public) = imgbed::signing::generate();
    imgbed::config::layout::write_private(&private_path, private.as_bytes())
        .with_context(|| format!("writing {}", private_path.display()))?;
    write_atomically(&public_path, &format!("{public}\n"))?;
    println!("{}", json!({"private_key": private_path, "public_key_file": public_path, "public_key": public}));
    Ok(())
}

fn sign(key: &Path, file: &Path, out: Option<PathBuf>) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(key).with_context(|| format!("reading {}", key.display()))?;
    let key = imgbed::signing::private_key(&text).map_err(|e| anyhow::anyhow!("{}: {e}", key.display()))?;
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let signature = imgbed::signing::sign(&key, &bytes);
    let out = out.unwrap_or_else(|| imgbed::signing::sig_path(file));
    write_atomically(&out, &format!("{signature}\n"))?;
    let public = imgbed::signing::public_text(&key.verifying_key());
    println!("{}", json!({"signature": out, "public_key": public, "sha256": hex::encode(Sha256::digest(&bytes))}));
    Ok(())
}

fn verify(keys: &[String], file: &Path, sig: Option<PathBuf>) -> anyhow::Result<()> {
    let keys: Vec<String> = keys
        .iter()
        .map(|k| match std::fs::read_to_string(k) {
            Ok(text) => text.trim().to_string(),
            Err(_) => k.clone(),
        })
        .collect();
    let trusted = imgbed::signing::TrustedKeys::parse(&keys).map_err(|e| anyhow::anyhow!("--key {e}"))?;
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let sig_file = sig.unwrap_or_else(|| imgbed::signing::sig_path(file));
    let signature = match std::fs::read_to_string(&sig_file) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("reading {}", sig_file.display())),
    };
    match trusted.verify(&bytes, signature.as_deref()) {
        Ok(key) => println!("{}", json!({"ok": true, "signed_by": key, "signature": sig_file})),
        Err(e) => {
            println!("{}", json!({"ok": false, "reason": e.to_string(), "signature": sig_file}));
            std::process::exit(3);
        }
    }
    Ok(())
}

/// Runs a `policy` subcommand.
pub fn policy(cmd: PolicyCommand) -> anyhow::Result<()> {
    match cmd {
        PolicyCommand::Check { file, sandbox } => block_on(async move {
            let rt = runtime(&file.to_string_lossy(), &sandbox)?;
            let p = rt.active();
            let (name, version, contract) = (&p.info.name, &p.info.version, p.package());
            println!(
                "{}",
                json!({"ok": true, "name": name, "version": version, "contract": contract, "sha256": p.sha256})
            );
            Ok(())
        }),
        PolicyCommand::Run { file, sandbox, call } => block_on(run(file, sandbox, call)),
        PolicyCommand::Keygen { out, name } => keygen(&out, &name),
        PolicyCommand::Sign { key, file, out } => sign(&key, &file, out),
        PolicyCommand::Verify { keys, file, sig } => verify(&keys, &file, sig),
    }
}

/// A decision as one JSON line.
fn print_decision(out: Result<(), imgbed::policy::Rejection>) {
    match out {
        Ok(()) => println!("{}", json!({"decision": "allow"})),
        Err(r) => {
            println!("{}", json!({"decision": "deny", "status": r.status, "code": r.code, "message": r.message}))
        }
    }
}

fn block_on(work: impl std::future::Future<Output = anyhow::Result<()>>) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(work)
}

/// `imgbed policy run`: one decision on sample input.
async fn run(file: String, sandbox: SandboxArgs, call: Call) -> anyhow::Result<()> {
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
                    Err(r) => {
                        json!({"file": path, "rejected": {"status": r.status, "code": r.code, "message": r.message}})
                    }
                };
                println!("{v}");
            }
        }
        Call::Name { file, rule } => {
            let (upload, f) = upload_of(&file)?;
            let out = rt
                .run(move |s| match s.inspect(&upload, &f)? {
                    Ok(m) => s.name(&upload, &m, &rule, 0),
                    Err(r) => Ok(Err(r)),
                })
                .await?;
            refused = out.is_err();
            match out {
                Ok(name) => println!("{}", json!({"file": file, "name": name})),
                Err(r) => println!(
                    "{}",
                    json!({"file": file, "rejected": {"status": r.status, "code": r.code, "message": r.message}})
                ),
            }
        }
        Call::Admit { file, images, bytes, id } => {
            let (upload, _) = upload_of(&file)?;
            let who = Principal { kind: imgbed::policy::PrincipalKind::User, id, attributes: Vec::new() };
            let usage = imgbed::policy::Usage { images, bytes };
            let out = rt.run(move |s| s.admit(&who, &upload, usage)).await?;
            refused = out.is_err();
            print_decision(out);
        }
        Call::Authorize { action, kind, id, facts } => {
            let kind = imgbed::policy::parse_kind(&kind)
                .ok_or_else(|| anyhow::anyhow!("--kind must be anonymous, user or admin, got {kind:?}"))?;
            let p = Principal { kind, id, attributes: Vec::new() };
            let (action, facts) = (imgbed::policy::parse_action(&action), imgbed::policy::facts_from_pairs(&facts));
            let out = rt.run(move |s| s.authorize(&action, &p, &facts)).await?;
            refused = out.is_err();
            print_decision(out);
        }
    }
    if refused {
        std::process::exit(3);
    }
    Ok(())
}
