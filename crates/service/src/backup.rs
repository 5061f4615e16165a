//! Backups of a running server and their restore. A backup is a directory:
//!
//! - `db/`: a RocksDB checkpoint, consistent at one instant while the server keeps serving
//!   (hard links to the immutable files where the backup is on the same filesystem). It holds
//!   everything, the signing keys included.
//! - `media/`: the uploaded and cached files, when they are stored locally (files are
//!   content-addressed and never changed, so a copy taken after the checkpoint holds every
//!   file the checkpoint names; files uploaded later are extra, harmless).
//! - `backup.json`: what it is ([`BackupManifest`]).
//!
//! The search index is not copied: it is rebuilt from the events at the first start after a
//! restore.

use std::path::{Path, PathBuf};

use accord_core::{Config, config::MediaBackend, time::now_millis};
use accord_db::Db;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The manifest's file name.
const MANIFEST: &str = "backup.json";
/// This layout's version.
const FORMAT: u32 = 1;
/// Progress is logged every this many media files.
const PROGRESS_EVERY: u64 = 1000;

/// What a backup holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BackupManifest {
    /// The layout's version.
    pub format: u32,
    /// The server it was taken of; a restore refuses another server's backup.
    pub server_name: String,
    /// When, ms since the epoch.
    pub created_ts: u64,
    /// The Accord version that took it.
    pub accord_version: String,
    /// The database schema it holds.
    pub schema_version: u64,
    /// Media files copied (0 when media lives in S3, which has its own backups).
    pub media_files: u64,
    /// Their bytes.
    pub media_bytes: u64,
    /// Whether media was copied (local storage) or left to the bucket (S3).
    pub media_included: bool,
}

fn io(what: &str, path: &Path, err: std::io::Error) -> Error {
    Error::Internal(format!("{what} {}: {err}", path.display()))
}

/// Copies the regular files under `from` into `to` (made as needed); returns files and bytes.
fn copy_tree(from: &Path, to: &Path, counted: &mut (u64, u64)) -> Result<()> {
    std::fs::create_dir_all(to).map_err(|err| io("cannot create", to, err))?;
    let entries = std::fs::read_dir(from).map_err(|err| io("cannot read", from, err))?;
    for entry in entries {
        let entry = entry.map_err(|err| io("cannot read", from, err))?;
        let source = entry.path();
        let target = to.join(entry.file_name());
        let kind = entry.file_type().map_err(|err| io("cannot read", &source, err))?;
        if kind.is_dir() {
            copy_tree(&source, &target, counted)?;
        } else if kind.is_file() {
            let bytes = std::fs::copy(&source, &target).map_err(|err| io("cannot copy", &source, err))?;
            counted.0 += 1;
            counted.1 += bytes;
            if counted.0.is_multiple_of(PROGRESS_EVERY) {
                tracing::info!(files = counted.0, bytes = counted.1, "copying files");
            }
        }
    }
    Ok(())
}

/// Refuses a target that holds anything: a backup never mixes with older files.
fn ensure_new_directory(dir: &Path) -> Result<()> {
    if !dir.is_absolute() {
        return Err(Error::invalid_param(format!(
            "the backup directory must be an absolute path, not {}",
            dir.display()
        )));
    }
    let occupied = std::fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_some());
    if occupied {
        return Err(Error::invalid_param(format!(
            "{} is not empty: choose a new directory for the backup",
            dir.display()
        )));
    }
    Ok(())
}

/// Takes a backup of `db` (and the local media of `config`) into the new directory `to`.
pub fn create(db: &Db, config: &Config, to: &Path) -> Result<BackupManifest> {
    ensure_new_directory(to)?;
    std::fs::create_dir_all(to).map_err(|err| io("cannot create", to, err))?;
    tracing::info!(to = %to.display(), "backup started");
    db.checkpoint(&to.join("db"))?;
    tracing::info!("database checkpoint written");
    let media_included = config.media.backend == MediaBackend::Local;
    let mut counted = (0, 0);
    let media = config.media_path();
    if media_included && media.exists() {
        copy_tree(&media, &to.join("media"), &mut counted)?;
    }
    let manifest = BackupManifest {
        format: FORMAT,
        server_name: config.server_name.to_string(),
        created_ts: now_millis(),
        accord_version: env!("CARGO_PKG_VERSION").to_owned(),
        schema_version: accord_db::SCHEMA_VERSION,
        media_files: counted.0,
        media_bytes: counted.1,
        media_included,
    };
    let json = serde_json::to_vec_pretty(&manifest).map_err(|err| Error::Internal(err.to_string()))?;
    let file = to.join(MANIFEST);
    std::fs::write(&file, json).map_err(|err| io("cannot write", &file, err))?;
    tracing::info!(to = %to.display(), media_files = counted.0, "backup finished");
    Ok(manifest)
}

/// Reads a backup's manifest.
pub fn manifest(from: &Path) -> Result<BackupManifest> {
    let file = from.join(MANIFEST);
    let bytes = std::fs::read(&file).map_err(|err| io("not a backup: cannot read", &file, err))?;
    serde_json::from_slice(&bytes)
        .map_err(|err| Error::Internal(format!("{} is not a backup manifest: {err}", file.display())))
}

/// Restores the backup in `from` to the database and media paths of `config`, for a stopped
/// server. The database directory must be new or empty; with `replace`, what is there is
/// moved aside to `<path>.replaced-<ms>` first (never deleted).
pub fn restore(from: &Path, config: &Config, replace: bool) -> Result<(BackupManifest, Option<PathBuf>)> {
    let manifest = manifest(from)?;
    if manifest.format != FORMAT {
        return Err(Error::Internal(format!(
            "backup format {} is not one this Accord reads ({FORMAT})",
            manifest.format
        )));
    }
    if manifest.server_name != config.server_name.as_str() {
        return Err(Error::Internal(format!(
            "the backup is of {}, but this configuration's server_name is {}: a server's data can't move to another name",
            manifest.server_name, config.server_name
        )));
    }
    let database = &config.database.path;
    let occupied = std::fs::read_dir(database).is_ok_and(|mut entries| entries.next().is_some());
    let mut moved = None;
    if occupied {
        if !replace {
            return Err(Error::Internal(format!(
                "{} already holds a database: stop Accord and pass --replace to move it aside",
                database.display()
            )));
        }
        let aside = PathBuf::from(format!("{}.replaced-{}", database.display(), now_millis()));
        std::fs::rename(database, &aside).map_err(|err| io("cannot move aside", database, err))?;
        moved = Some(aside);
    }
    let mut counted = (0, 0);
    copy_tree(&from.join("db"), database, &mut counted)?;
    if manifest.media_included && from.join("media").exists() {
        let mut media = (0, 0);
        copy_tree(&from.join("media"), &config.media_path(), &mut media)?;
    }
    // The search index is rebuilt from the restored events at the next start.
    let search = config.search_path();
    if search.exists() {
        std::fs::remove_dir_all(&search).map_err(|err| io("cannot remove the old search index", &search, err))?;
    }
    tracing::info!(from = %from.display(), "backup restored");
    Ok((manifest, moved))
}
