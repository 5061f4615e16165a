//! Reports for admins, in the shape of Synapse's event reports API: list (newest first,
//! paged), read one, delete one. Room and user reports are listed by the same endpoint with
//! `kind=room` or `kind=user` (an Accord extension; Synapse has no such list).

use accord_service::{
    Services,
    reports::{Report, ReportKind},
};
use axum::{
    Json,
    extract::{Path, Request, State},
    response::{IntoResponse, Response},
};
use ruma::api::error::ErrorKind;
use serde::Deserialize;
use serde_json::{Value, json};

use super::admin;
use crate::{ApiError, Result};

/// Reports per page without `limit`.
const DEFAULT_LIMIT: usize = 100;

#[derive(Deserialize)]
struct ListQuery {
    /// The `next_token` of the previous page.
    from: Option<u64>,
    limit: Option<usize>,
    kind: Option<ReportKind>,
}

fn answer(result: Result<Response>) -> Response {
    result.unwrap_or_else(IntoResponse::into_response)
}

fn report_json(id: u64, report: &Report) -> Value {
    json!({
        "id": id,
        "kind": report.kind,
        "received_ts": report.received_ts,
        "user_id": report.reporter,
        "room_id": report.room_id,
        "event_id": report.event_id,
        "sender": report.user_id,
        "reason": report.reason,
        "score": report.score,
    })
}

/// # `GET /_synapse/admin/v1/event_reports`
pub(crate) async fn list_reports_route(State(services): State<Services>, request: Request) -> Response {
    answer(
        async {
            let (parts, _) = request.into_parts();
            admin(&services, &parts)?;
            let query: ListQuery = serde_urlencoded::from_str(parts.uri.query().unwrap_or_default())
                .map_err(|err| ApiError::new(ErrorKind::InvalidParam, format!("Invalid query: {err}")))?;
            let limit = query.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, 1000);
            let kind = query.kind.unwrap_or(ReportKind::Event);
            let (reports, more) = services.reports(kind, query.from, limit)?;
            let mut body = json!({
                "event_reports": reports.iter().map(|(id, report)| report_json(*id, report)).collect::<Vec<_>>(),
                "total": reports.len(),
            });
            if more && let Some((last, _)) = reports.last() {
                body["next_token"] = json!(last);
            }
            Ok(Json(body).into_response())
        }
        .await,
    )
}

fn one(services: &Services, id: &str) -> Result<(u64, Report)> {
    let not_found = || ApiError::new(ErrorKind::NotFound, "No report with this id");
    let id: u64 = id.parse().map_err(|_| not_found())?;
    let report = services.report(id)?.ok_or_else(not_found)?;
    Ok((id, report))
}

/// # `GET /_synapse/admin/v1/event_reports/{reportId}`
pub(crate) async fn get_report_route(
    State(services): State<Services>,
    Path(id): Path<String>,
    request: Request,
) -> Response {
    answer(
        async {
            admin(&services, &request.into_parts().0)?;
            let (id, report) = one(&services, &id)?;
            Ok(Json(report_json(id, &report)).into_response())
        }
        .await,
    )
}

/// # `DELETE /_synapse/admin/v1/event_reports/{reportId}`
pub(crate) async fn delete_report_route(
    State(services): State<Services>,
    Path(id): Path<String>,
    request: Request,
) -> Response {
    answer(
        async {
            let admin_user = admin(&services, &request.into_parts().0)?;
            let (id, _) = one(&services, &id)?;
            services.delete_report(id)?;
            tracing::info!(id, by = %admin_user.user_id, "report deleted");
            Ok(Json(json!({})).into_response())
        }
        .await,
    )
}
