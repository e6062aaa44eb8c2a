//! Crash harness: a mixed workload (uploads, multi-file uploads, deletes, account
//! removals) against the real server, killed with SIGKILL while writes are in flight,
//! again and again. After each restart, once reconciliation is done: every
//! acknowledged upload is served with its recorded SHA-256, nothing acknowledged as
//! deleted is served, an interrupted account removal is all or nothing, no record lacks
//! its file and no file its record outside quarantine, and no temp file is left.
//! Runs on the engine under test (`IMGBED_TEST_ENGINE`); `IMGBED_CRASH_CYCLES` (30).

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{fixtures, Server};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// What the clients were told.
#[derive(Default)]
struct Ledger {
    /// Acknowledged uploads: name → (digest, account).
    stored: HashMap<String, (String, String)>,
    /// Acknowledged deletes (and images of acknowledged account removals).
    gone: HashSet<String>,
    /// Names whose delete was in flight at the crash: either state is fine.
    uncertain: HashSet<String>,
    /// Accounts whose removal was in flight at the crash: all their images or none.
    half_removed: Vec<Vec<String>>,
    /// Live accounts: mail → token.
    accounts: HashMap<String, String>,
}

struct Load {
    url: String,
    http: reqwest::Client,
    ledger: Mutex<Ledger>,
    in_flight: AtomicUsize,
    stop: AtomicBool,
    seed: AtomicUsize,
}

impl Load {
    async fn register(&self) -> Option<(String, String)> {
        let mail = format!("u{}@example.org", self.seed.fetch_add(1, Ordering::Relaxed));
        let res = self.http.post(format!("{}/api/get_token", self.url)).json(&json!({"mail": mail})).send().await;
        let body: Value = res.ok()?.json().await.ok()?;
        let token = body["token"].as_str()?.to_string();
        self.ledger.lock().unwrap().accounts.insert(mail.clone(), token.clone());
        Some((mail, token))
    }

    async fn upload(&self, mail: &str, token: &str, files: usize) {
        let mut form = reqwest::multipart::Form::new();
        for _ in 0..files {
            let seed = self.seed.fetch_add(1, Ordering::Relaxed) as u64;
            let bytes = fixtures::png(8 + (seed % 24) as u32, 8, seed);
            form = form.part("file", reqwest::multipart::Part::bytes(bytes).file_name(format!("p{seed}.png")));
        }
        let url = format!("{}/api/image_upload?token={token}", self.url);
        let Ok(res) = self.http.post(url).multipart(form).send().await else { return };
        if res.status() != 200 {
            return;
        }
        let Ok(body) = res.json::<Value>().await else { return };
        let mut ledger = self.ledger.lock().unwrap();
        for f in body["files"].as_array().into_iter().flatten() {
            let name = f["name"].as_str().unwrap().to_string();
            ledger.stored.insert(name, (f["digest"].as_str().unwrap().to_string(), mail.to_string()));
        }
    }

    async fn delete(&self, mail: &str, token: &str) {
        let name = {
            let mut ledger = self.ledger.lock().unwrap();
            let Some(name) = ledger.stored.iter().find(|(_, (_, m))| m == mail).map(|(n, _)| n.clone()) else {
                return;
            };
            ledger.stored.remove(&name);
            ledger.uncertain.insert(name.clone());
            name
        };
        let url = format!("{}/api/image_delete?token={token}", self.url);
        if let Ok(res) = self.http.post(url).json(&json!({"name": name})).send().await {
            let mut ledger = self.ledger.lock().unwrap();
            if res.status() == 200 {
                ledger.uncertain.remove(&name);
                ledger.gone.insert(name);
            }
        }
    }

    async fn remove_account(&self, mail: &str, token: &str) {
        let names: Vec<String> = {
            let mut ledger = self.ledger.lock().unwrap();
            ledger.accounts.remove(mail);
            let names: Vec<String> =
                ledger.stored.iter().filter(|(_, (_, m))| m == mail).map(|(n, _)| n.clone()).collect();
            for n in &names {
                ledger.stored.remove(n);
            }
            ledger.half_removed.push(names.clone());
            names
        };
        let url = format!("{}/api/remove_token", self.url);
        if let Ok(res) = self.http.post(url).json(&json!({"mail": mail, "token": token})).send().await {
            let mut ledger = self.ledger.lock().unwrap();
            if res.status() == 200 {
                ledger.half_removed.retain(|h| h != &names);
                ledger.gone.extend(names);
            }
        }
    }

    /// One client: its own account, writes of every kind until told to stop.
    async fn client(self: Arc<Self>) {
        let Some((mut mail, mut token)) = self.register().await else { return };
        while !self.stop.load(Ordering::Relaxed) {
            self.in_flight.fetch_add(1, Ordering::SeqCst);
            match rand::random_range(0..100) {
                0..55 => self.upload(&mail, &token, 1).await,
                55..75 => self.upload(&mail, &token, 3).await,
                75..92 => self.delete(&mail, &token).await,
                _ => {
                    self.remove_account(&mail, &token).await;
                    self.in_flight.fetch_sub(1, Ordering::SeqCst);
                    match self.register().await {
                        Some(next) => (mail, token) = next,
                        None => return,
                    }
                    continue;
                }
            }
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

async fn served(s: &Server, name: &str) -> Option<Vec<u8>> {
    let res = s.http.get(s.at(&format!("/images/{name}"))).send().await.unwrap();
    match res.status().as_u16() {
        200 => Some(res.bytes().await.unwrap().to_vec()),
        404 => None,
        other => panic!("GET /images/{name}: {other}"),
    }
}

/// Every promise the ledger records, checked against the restarted server.
async fn check(s: &Server, ledger: &Ledger, cycle: usize) {
    for (name, (digest, _)) in &ledger.stored {
        let bytes = served(s, name).await.unwrap_or_else(|| panic!("cycle {cycle}: acknowledged {name} is lost"));
        assert_eq!(&hex::encode(Sha256::digest(&bytes)), digest, "cycle {cycle}: {name} changed");
    }
    for name in &ledger.gone {
        assert!(served(s, name).await.is_none(), "cycle {cycle}: deleted {name} is served");
    }
    for names in &ledger.half_removed {
        let mut present = 0;
        for n in names {
            present += usize::from(served(s, n).await.is_some());
        }
        assert!(
            present == 0 || present == names.len(),
            "cycle {cycle}: a removal half done: {present}/{}",
            names.len()
        );
    }
    for token in ledger.accounts.values() {
        assert_eq!(s.get(&format!("/api/image_list?token={token}")).await.0, 200, "cycle {cycle}: a token died");
    }
    assert!(s.temp_files().is_empty(), "cycle {cycle}: temp files {:?}", s.temp_files());
    let out = std::process::Command::new(common::binary())
        .arg("--config")
        .arg(s.path().join("config.json"))
        .args(["fsck", "--min-age-s", "0"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "fsck: {text}{}", String::from_utf8_lossy(&out.stderr));
    let found: Value = serde_json::from_str(&text).unwrap();
    for key in ["missing_files", "unrecorded_files", "unrecorded_thumbnails", "pending_deletes"] {
        assert_eq!(found[key], json!([]), "cycle {cycle}: {key}: {found}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_at_random_while_writing_the_server_keeps_every_promise() {
    let cycles: usize = std::env::var("IMGBED_CRASH_CYCLES").ok().and_then(|v| v.parse().ok()).unwrap_or(30);
    let mut server = Some(Server::start(json!({"auth": {"jwt": true}, "server": {"image_zip": true}})));
    let ledger = Mutex::new(Ledger::default());
    let seed = AtomicUsize::new(1);
    let mut kills = 0;
    for cycle in 0..=cycles {
        let s = server.take().unwrap();
        s.reconciled().await;
        let promises = std::mem::take(&mut *ledger.lock().unwrap());
        check(&s, &promises, cycle).await;
        *ledger.lock().unwrap() = promises;
        if cycle == cycles {
            break;
        }
        let load = Arc::new(Load {
            url: s.url.clone(),
            http: reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap(),
            ledger: Mutex::new(std::mem::take(&mut *ledger.lock().unwrap())),
            in_flight: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
            seed: AtomicUsize::new(seed.load(Ordering::Relaxed)),
        });
        let clients: Vec<_> = (0..4).map(|_| tokio::spawn(load.clone().client())).collect();
        tokio::time::sleep(Duration::from_millis(rand::random_range(150..500))).await;
        // Kill only while at least one write is in flight.
        let mut waited = 0;
        while load.in_flight.load(Ordering::SeqCst) == 0 && waited < 2000 {
            tokio::time::sleep(Duration::from_millis(1)).await;
            waited += 1;
        }
        let in_flight = load.in_flight.load(Ordering::SeqCst);
        load.stop.store(true, Ordering::Relaxed);
        let dir = s.stop(); // SIGKILL
        assert!(in_flight > 0, "cycle {cycle}: no write in flight to interrupt");
        kills += 1;
        for c in clients {
            c.await.unwrap();
        }
        let load = Arc::try_unwrap(load).ok().expect("clients finished");
        seed.store(load.seed.load(Ordering::Relaxed), Ordering::Relaxed);
        let l = load.ledger.into_inner().unwrap();
        eprintln!(
            "crash {cycle}: kill -9 with {in_flight} writes in flight; {} acknowledged images, {} deleted",
            l.stored.len(),
            l.gone.len()
        );
        *ledger.lock().unwrap() = l;
        server = Some(Server::start_in(dir));
    }
    assert!(kills >= cycles);
}
