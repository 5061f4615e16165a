//! `POST /_matrix/client/v3/search` (spec: "Server Side Search"); the search is
//! `Services::search`'s.

use accord_service::{Error, Services, search::SearchRequest};
use axum::response::{IntoResponse, Response};
use ruma::api::client::search::search_events::v3 as search_events;
use serde_json::Value;

use crate::{ApiError, Result, Ruma};

/// # `POST /_matrix/client/v3/search`
pub async fn search_events_route(
    services: Services,
    request: Ruma<search_events::Request>,
) -> Result<search_events::Response> {
    let body = &request.body;
    let Some(criteria) = &body.search_categories.room_events else {
        // Room events are the only category: nothing asked, nothing found.
        return Ok(search_events::Response::new(Default::default()));
    };
    let sent: Value = serde_json::from_slice(&request.raw_body).unwrap_or_default();
    let search = SearchRequest {
        criteria,
        next_batch: body.next_batch.as_deref(),
        wants_context: sent.pointer("/search_categories/room_events/event_context").is_some(),
    };
    let room_events = services.search(&request.auth, &search).await?;
    let mut categories = search_events::ResultCategories::new();
    categories.room_events = room_events;
    Ok(search_events::Response::new(categories))
}

/// The response as JSON with `results` and `highlights` always present (ruma leaves empty
/// lists out): the spec lists them, and clients and Complement's TestSearch read an empty
/// `results` on the last page.
pub(crate) fn render(response: search_events::Response) -> Response {
    let mut body = match serde_json::to_value(&response.search_categories) {
        Ok(categories) => serde_json::json!({ "search_categories": categories }),
        Err(err) => {
            return ApiError::from(Error::Internal(format!(
                "the search response failed to serialize: {err}"
            )))
            .into_response();
        }
    };
    if let Some(room_events) = body
        .pointer_mut("/search_categories/room_events")
        .and_then(Value::as_object_mut)
    {
        for key in ["results", "highlights"] {
            room_events.entry(key).or_insert_with(|| Value::Array(Vec::new()));
        }
        room_events.entry("count").or_insert(Value::from(0));
    } else if let Some(categories) = body.get_mut("search_categories").and_then(Value::as_object_mut) {
        categories.insert(
            "room_events".to_owned(),
            serde_json::json!({ "results": [], "count": 0, "highlights": [] }),
        );
    }
    axum::Json(body).into_response()
}
