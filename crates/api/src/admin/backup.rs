//! Storage operations for admins: `POST /_accord/admin/v1/backup` `{"to": "/absolute/new/dir"}`
//! (a backup of the running server, written by the server itself, which is what `accord
//! backup --to DIR` calls; the directory is on the server's machine and must be new or
//! empty), and `POST /_accord/admin/v1/retention/run` (a retention run now).

use accord_service::{Services, audit::AuditEvent};
use axum::{
    Json,
    extract::State,
    response::{IntoResponse, Response},
};
use ruma::api::error::ErrorKind;
use serde::Deserialize;

use super::request::AdminRequest;
use crate::{ApiError, Result};

#[derive(Deserialize)]
struct BackupBody {
    to: Option<std::path::PathBuf>,
}

/// # `POST /_accord/admin/v1/backup`
pub(crate) async fn backup_route(State(services): State<Services>, request: AdminRequest) -> Result<Response> {
    let body: BackupBody = request.required_json()?;
    let to = body
        .to
        .ok_or_else(|| ApiError::new(ErrorKind::MissingParam, "`to` (an absolute directory path) is required"))?;
    let db = services.db().clone();
    let config = services.config.clone();
    let target = to.clone();
    let manifest = tokio::task::spawn_blocking(move || accord_service::backup::create(&db, &config, &target))
        .await
        .map_err(|err| accord_service::Error::Internal(format!("the backup task failed: {err}")))??;
    services.audit.record(
        AuditEvent::new(accord_service::audit::kinds::BACKUP_CREATED)
            .actor(request.admin_id())
            .detail("to", to.display().to_string())
            .detail("media_files", manifest.media_files),
    );
    Ok(Json(manifest).into_response())
}

#[derive(Default, Deserialize)]
struct RetentionBody {
    max_events: Option<usize>,
}

/// # `POST /_accord/admin/v1/retention/run` `{"max_events": n}`: a retention run now (at
/// most `n` events pruned; the rest waits for the next run), answering what it did.
pub(crate) async fn retention_route(State(services): State<Services>, request: AdminRequest) -> Result<Response> {
    let body: RetentionBody = request.json()?;
    if !services.config.retention.enabled {
        return Err(
            ApiError::new(ErrorKind::Unknown, "Retention is off: set [retention] enabled = true")
                .with_status(axum::http::StatusCode::BAD_REQUEST),
        );
    }
    let run = services.run_retention(body.max_events).await?;
    Ok(Json(run).into_response())
}
