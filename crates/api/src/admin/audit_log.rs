//! The audit log for admins (Accord's own API; Synapse has none): list with filters, export
//! as JSON lines, and verify the hash chain.
//!
//! - `GET /_accord/admin/v1/audit?kind=&actor=&target=&since_ts=&until_ts=&from=&limit=&dir=`
//! - `GET /_accord/admin/v1/audit/export` (same filters, every match, `application/jsonl`)
//! - `GET /_accord/admin/v1/audit/verify`

use accord_service::{Direction, Services, audit::AuditFilter};
use axum::{
    Json,
    extract::State,
    http::header,
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use serde_json::json;

use super::{request::AdminRequest, user_accounts::parse_dir};
use crate::Result;

/// Records per page without `limit`, and at most.
const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1000;
/// Records read per step of an export.
const EXPORT_STEP: usize = 1000;

#[derive(Deserialize)]
struct AuditQuery {
    kind: Option<String>,
    actor: Option<String>,
    target: Option<String>,
    since_ts: Option<u64>,
    until_ts: Option<u64>,
    from: Option<u64>,
    limit: Option<usize>,
    dir: Option<String>,
}

impl AuditQuery {
    fn filter(&self) -> AuditFilter {
        AuditFilter {
            kind: self.kind.clone(),
            actor: self.actor.clone(),
            target: self.target.clone(),
            since_ts: self.since_ts,
            until_ts: self.until_ts,
        }
    }
}

/// # `GET /_accord/admin/v1/audit`: newest first by default (`dir=b`).
pub(crate) async fn list_route(State(services): State<Services>, request: AdminRequest) -> Result<Response> {
    let query: AuditQuery = request.query()?;
    let direction = match query.dir.as_deref() {
        None => Direction::Backward,
        dir => {
            if parse_dir(dir)? {
                Direction::Backward
            } else {
                Direction::Forward
            }
        }
    };
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    let (records, next) = services.audit.list(&query.filter(), query.from, direction, limit)?;
    let mut answer = json!({ "records": records });
    if let Some(next) = next {
        answer["next_token"] = json!(next);
    }
    Ok(Json(answer).into_response())
}

/// # `GET /_accord/admin/v1/audit/export`: every matching record, oldest first, one JSON
/// object a line.
pub(crate) async fn export_route(State(services): State<Services>, request: AdminRequest) -> Result<Response> {
    let query: AuditQuery = request.query()?;
    let filter = query.filter();
    let mut lines = Vec::new();
    let mut from = query.from;
    loop {
        let (records, next) = services.audit.list(&filter, from, Direction::Forward, EXPORT_STEP)?;
        for record in records {
            serde_json::to_writer(&mut lines, &record)
                .map_err(|err| accord_service::Error::Internal(err.to_string()))?;
            lines.push(b'\n');
        }
        match next {
            Some(next) => from = Some(next),
            None => break,
        }
    }
    Ok(([(header::CONTENT_TYPE, "application/jsonl")], lines).into_response())
}

/// # `GET /_accord/admin/v1/audit/verify`: the chain checked now.
pub(crate) async fn verify_route(State(services): State<Services>, _request: AdminRequest) -> Result<Response> {
    let checked = services.audit.verify()?;
    Ok(Json(json!({
        "records": checked.records,
        "head": checked.head.map(|(seq, hash)| json!({ "seq": seq, "hash": hash })),
        "intact": checked.problems.is_empty(),
        "problems": checked.problems,
    }))
    .into_response())
}

/// # `GET /_synapse/admin/v1/server_version`: needs no token, as on Synapse.
pub(crate) async fn server_version_route() -> Response {
    Json(json!({ "server_version": env!("CARGO_PKG_VERSION") })).into_response()
}
