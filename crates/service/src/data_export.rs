//! A person's data, exported when they ask (GDPR article 15 and 20): everything Accord holds
//! about a local user, as a gzipped tar archive an admin hands over.
//!
//! ```text
//! manifest.json        who, when, and how many of each
//! account.json         the account (never the password hash)
//! profile.json         display name, avatar and other profile fields
//! devices.json         devices with their last address and time
//! account_data.json    global and per-room account data
//! memberships.json     every room and the user's membership in it
//! events.jsonl         every event the user sent, as clients see it, in the order stored
//! media.json           the user's uploads, and media/<media_id> their bytes
//! audit.jsonl          audit records by or about the user
//! ```
//!
//! Events are found by reading every stored event once (there is no index by sender), with
//! progress logged; an export is rare and may take a while on a large server. The archive is
//! built in an unnamed temporary file (under `$TMPDIR`, gone when closed) and the events go
//! through another, so memory holds one event or one upload at a time, whatever the user sent.

use std::io::{Seek, Write};

use accord_db::{AuditFilter, Direction};
use ruma::UserId;
use serde::Serialize;
use serde_json::{Value, json};

use crate::{Error, Result, Services, audit::AuditEvent};

/// How much an export holds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ExportSummary {
    /// The user.
    pub user_id: String,
    /// When, ms since the epoch.
    pub created_ts: u64,
    /// Events the user sent.
    pub events: usize,
    /// Rooms with a membership.
    pub rooms: usize,
    /// Devices.
    pub devices: usize,
    /// Uploads, and how many of them still had their file.
    pub media: usize,
    /// Files included.
    pub media_files: usize,
    /// Audit records.
    pub audit_records: usize,
}

fn internal(err: impl std::fmt::Display) -> Error {
    Error::Internal(format!("building the export: {err}"))
}

/// Adds one file to the archive.
fn add(archive: &mut tar::Builder<impl Write>, path: &str, bytes: &[u8], mtime_ms: u64) -> Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_size(bytes.len() as u64);
    header.set_mode(0o600);
    header.set_mtime(mtime_ms / 1000);
    header.set_cksum();
    archive.append_data(&mut header, path, bytes).map_err(internal)
}

fn json_bytes(value: &impl Serialize) -> Result<Vec<u8>> {
    serde_json::to_vec_pretty(value).map_err(internal)
}

fn json_lines(values: &[Value]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    for value in values {
        serde_json::to_writer(&mut out, value).map_err(internal)?;
        out.push(b'\n');
    }
    Ok(out)
}

/// Adds a file to the archive from a temporary file, read from its start.
fn add_file(archive: &mut tar::Builder<impl Write>, path: &str, mut file: std::fs::File, mtime_ms: u64) -> Result<()> {
    let size = file.seek(std::io::SeekFrom::End(0)).map_err(internal)?;
    file.rewind().map_err(internal)?;
    let mut header = tar::Header::new_gnu();
    header.set_size(size);
    header.set_mode(0o600);
    header.set_mtime(mtime_ms / 1000);
    header.set_cksum();
    archive.append_data(&mut header, path, file).map_err(internal)
}

impl Services {
    /// Writes every event `user_id` sent, client format, one JSON line each, in the order
    /// stored, to a temporary file; how many.
    fn write_events_sent_by(&self, user_id: &UserId, out: &mut std::fs::File) -> Result<usize> {
        let db = self.db();
        let mut writer = std::io::BufWriter::new(out);
        let mut written = 0;
        for short in db.events_sent_by(user_id)? {
            if db.event_meta(short)?.rejected {
                continue;
            }
            if let Some(event) = self.rooms.render(short, None)? {
                serde_json::to_writer(&mut writer, &event).map_err(internal)?;
                writer.write_all(b"\n").map_err(internal)?;
                written += 1;
            }
        }
        writer.flush().map_err(internal)?;
        Ok(written)
    }

    fn audit_about(&self, user_id: &UserId) -> Result<Vec<Value>> {
        let mut records = Vec::new();
        for filter in [
            AuditFilter {
                actor: Some(user_id.to_string()),
                ..AuditFilter::default()
            },
            AuditFilter {
                target: Some(user_id.to_string()),
                ..AuditFilter::default()
            },
        ] {
            let mut from = None;
            loop {
                let (page, next) = self.audit.list(&filter, from, Direction::Forward, 1000)?;
                records.extend(page);
                match next {
                    Some(next) => from = Some(next),
                    None => break,
                }
            }
        }
        records.sort_by_key(|record| record.body.seq);
        records.dedup_by_key(|record| record.body.seq);
        records
            .iter()
            .map(|record| serde_json::to_value(record).map_err(internal))
            .collect()
    }

    /// The archive of everything about local `user_id`, for `admin`, as an unnamed temporary
    /// file read from its start; recorded in the audit log (who exported whose data is itself
    /// personal-data processing).
    pub async fn export_user_data(&self, admin: &UserId, user_id: &UserId) -> Result<(std::fs::File, ExportSummary)> {
        let db = self.db();
        if user_id.server_name() != self.config.server_name {
            return Err(Error::invalid_param(format!("{user_id} is not a user of this server")));
        }
        let account = db
            .get_account(user_id)?
            .ok_or_else(|| Error::not_found(format!("User {user_id} not found")))?;
        let now = accord_core::time::now_millis();
        let mut summary = ExportSummary {
            user_id: user_id.to_string(),
            created_ts: now,
            ..ExportSummary::default()
        };
        let mut archive = tar::Builder::new(flate2::write::GzEncoder::new(
            std::io::BufWriter::new(tempfile::tempfile().map_err(internal)?),
            flate2::Compression::default(),
        ));

        let mut account_json = serde_json::to_value(&account).map_err(internal)?;
        if let Some(object) = account_json.as_object_mut() {
            object.remove("password_hash");
            object.insert("user_id".to_owned(), json!(user_id));
        }
        add(&mut archive, "account.json", &json_bytes(&account_json)?, now)?;
        add(&mut archive, "profile.json", &json_bytes(&db.profile(user_id)?)?, now)?;

        let devices: Vec<Value> = self
            .devices
            .list(user_id)?
            .into_iter()
            .map(|(device_id, device)| {
                json!({
                    "device_id": device_id,
                    "display_name": device.display_name,
                    "last_seen_ip": device.last_seen_ip,
                    "last_seen_ts": device.last_seen_ts,
                    "created_ts": device.created_ts,
                })
            })
            .collect();
        summary.devices = devices.len();
        add(&mut archive, "devices.json", &json_bytes(&devices)?, now)?;

        let memberships = db.rooms_of_user(user_id)?;
        summary.rooms = memberships.len();
        let mut account_data = json!({ "global": db.account_data_in(user_id, None)?, "rooms": {} });
        let mut rooms = Vec::new();
        for (room_id, record) in &memberships {
            rooms.push(json!({ "room_id": room_id, "membership": record.membership, "forgotten": record.forgotten }));
            let in_room = db.account_data_in(user_id, Some(room_id))?;
            if !in_room.is_empty() {
                account_data["rooms"][room_id.as_str()] = json!(in_room);
            }
        }
        add(&mut archive, "memberships.json", &json_bytes(&rooms)?, now)?;
        add(&mut archive, "account_data.json", &json_bytes(&account_data)?, now)?;

        let mut events = tempfile::tempfile().map_err(internal)?;
        summary.events = self.write_events_sent_by(user_id, &mut events)?;
        add_file(&mut archive, "events.jsonl", events, now)?;

        let mut media = Vec::new();
        for (media_id, _) in db.user_media(user_id)? {
            let Some(record) = db.get_media(&self.config.server_name, &media_id)? else {
                continue;
            };
            let bytes = self.media.read_whole(&record).await?;
            media.push(json!({
                "media_id": media_id,
                "mxc": format!("mxc://{}/{media_id}", self.config.server_name),
                "content_type": record.content_type,
                "filename": record.filename,
                "size": record.size,
                "created_ms": record.created_ms,
                "included": bytes.is_some(),
            }));
            if let Some(bytes) = bytes {
                add(&mut archive, &format!("media/{media_id}"), &bytes, record.created_ms)?;
                summary.media_files += 1;
            }
        }
        summary.media = media.len();
        add(&mut archive, "media.json", &json_bytes(&media)?, now)?;

        let audit = self.audit_about(user_id)?;
        summary.audit_records = audit.len();
        add(&mut archive, "audit.jsonl", &json_lines(&audit)?, now)?;
        add(&mut archive, "manifest.json", &json_bytes(&summary)?, now)?;

        let encoder = archive.into_inner().map_err(internal)?;
        let mut file = encoder
            .finish()
            .map_err(internal)?
            .into_inner()
            .map_err(|err| internal(err.error()))?;
        file.rewind().map_err(internal)?;
        self.audit.record(
            AuditEvent::new(crate::audit::kinds::USER_DATA_EXPORTED)
                .actor(admin)
                .target(user_id)
                .detail("events", summary.events)
                .detail("media_files", summary.media_files),
        );
        tracing::info!(admin = %admin, user = %user_id, events = summary.events, "user data exported");
        Ok((file, summary))
    }
}
