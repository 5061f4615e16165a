//! What a server admin does with media (Synapse's admin API shape, see `accord-api`'s
//! `admin/media.rs`): delete one media id or all of a user's, quarantine (then nobody is
//! served it), and purge cached remote files and expired reservations older than a date.
//! Records go first, in one batch; a file is deleted once nothing refers to it any more.

use accord_core::time::now_millis;
use accord_db::WriteBatch;
use ruma::{ServerName, UserId};

use super::{Media, checked_id};
use crate::{Error, Result};

impl Media {
    /// Deletes a media id (local or cached remote) with its thumbnails; whether it existed.
    pub async fn delete_media(&self, server: &ServerName, media_id: &str) -> Result<bool> {
        checked_id(media_id)?;
        let Some(record) = self.db.get_media(server, media_id)? else {
            return Ok(false);
        };
        let mut batch = WriteBatch::new();
        let hashes = self.db.delete_media(&mut batch, server, media_id, &record)?;
        self.db.write(batch)?;
        for sha256 in hashes {
            self.forget_blob_if_unused(&sha256).await;
        }
        tracing::info!(%server, %media_id, "media deleted");
        Ok(true)
    }

    /// Deletes every upload of a local user; the ids deleted.
    pub async fn delete_user_media(&self, user_id: &UserId) -> Result<Vec<String>> {
        let mut deleted = Vec::new();
        for (media_id, _) in self.db.user_media(user_id)? {
            if self.delete_media(&self.config.server_name, &media_id).await? {
                deleted.push(media_id);
            }
        }
        tracing::info!(user = %user_id, deleted = deleted.len(), "a user's media deleted");
        Ok(deleted)
    }

    /// A stored file's bytes, whole (for a data export); `None` when the file is gone.
    pub async fn read_whole(&self, record: &accord_db::MediaRecord) -> Result<Option<Vec<u8>>> {
        use tokio::io::AsyncReadExt;
        let Some(hash) = record.sha256.as_deref().and_then(accord_media::ContentHash::from_hex) else {
            return Ok(None);
        };
        let Some((mut stream, size)) = self
            .store
            .open(&hash)
            .await
            .map_err(|err| crate::Error::Internal(format!("media store: {err}")))?
        else {
            return Ok(None);
        };
        let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        stream
            .read_to_end(&mut bytes)
            .await
            .map_err(|err| crate::Error::Internal(format!("media store: {err}")))?;
        Ok(Some(bytes))
    }

    /// Quarantines (or releases) a media id: while quarantined it is served to nobody, by no
    /// endpoint, here or to other servers.
    pub fn set_quarantined(&self, server: &ServerName, media_id: &str, quarantined: bool) -> Result<()> {
        checked_id(media_id)?;
        let mut record = self
            .db
            .get_media(server, media_id)?
            .ok_or_else(|| Error::not_found("No media with this id"))?;
        record.quarantined = quarantined;
        let mut batch = WriteBatch::new();
        self.db.put_media(&mut batch, server, media_id, &record);
        self.db.write(batch)?;
        tracing::info!(%server, %media_id, quarantined, "media quarantine changed");
        Ok(())
    }

    /// Deletes cached remote files fetched before `before_ms` (they are fetched again when
    /// asked for) and reservations that expired without a file; how many went.
    pub async fn purge_remote_cache(&self, before_ms: u64) -> Result<usize> {
        let now = now_millis();
        let mut purged = 0;
        let candidates = self.db.all_media()?;
        let total = candidates.len();
        for (index, (server, media_id, record)) in candidates.into_iter().enumerate() {
            let stale_remote = server != self.config.server_name && record.created_ms < before_ms;
            let expired = record.sha256.is_none() && record.unused_expires_ms.is_some_and(|at| at <= now);
            if (stale_remote || expired) && self.delete_media(&server, &media_id).await? {
                purged += 1;
            }
            if (index + 1) % 10_000 == 0 {
                tracing::info!(checked = index + 1, total, purged, "purging the remote media cache");
            }
        }
        tracing::info!(purged, before_ms, "remote media cache purged");
        Ok(purged)
    }
}
