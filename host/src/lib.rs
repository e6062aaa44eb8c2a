//! imgbed: a self-hosted image host. The native host serves HTTP and owns
//! storage; a WebAssembly policy component decides validation, naming and access.

pub mod app;
pub mod auth;
pub mod backup;
pub mod blob;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod error;
pub mod fsck;
pub mod http;
pub mod ingest;
pub mod ipfilter;
pub mod mail;
pub mod memory;
pub mod migrate;
pub mod mongo;
pub mod names;
pub mod policy;
pub mod reconcile;
pub mod signing;
mod storage;
pub mod store;
pub mod variants;

pub use app::{build_state, initial_policy, policy_file_bytes, spawn_reconciliation, spawn_reloaders};
pub use storage::{open_storage, protected_files, Storage};
