//! `POST /createRoom`.

use accord_service::{Error, Services, rooms::CreateRoom};
use ruma::api::client::{room::Visibility, room::create_room::v3 as create_room};
use serde_json::{Map, Value};

use crate::{ApiError, Result, Ruma};

fn object(json: &str, what: &str) -> Result<Map<String, Value>> {
    match serde_json::from_str(json) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(ApiError::from(Error::bad_json(format!("{what} must be a JSON object")))),
    }
}

/// # `POST /_matrix/client/v3/createRoom`
pub async fn create_room_route(
    services: Services,
    request: Ruma<create_room::Request>,
) -> Result<create_room::Response> {
    let body = request.body;
    if let Some(name) = &body.room_alias_name
        && let Ok(alias) = ruma::RoomAliasId::parse(format!("#{name}:{}", services.config.server_name))
    {
        services.check_alias_allowed(&request.auth, &alias)?;
    }
    let mut initial_state = Vec::new();
    for event in &body.initial_state {
        let value: Value =
            serde_json::from_str(event.json().get()).map_err(|e| ApiError::from(Error::bad_json(e.to_string())))?;
        let kind = value["type"]
            .as_str()
            .ok_or_else(|| ApiError::from(Error::bad_json("initial_state events need a type")))?;
        let state_key = value["state_key"].as_str().unwrap_or_default();
        initial_state.push((kind.to_owned(), state_key.to_owned(), value["content"].clone()));
    }
    let options = CreateRoom {
        preset: body.preset.as_ref().map(|p| p.as_str().to_owned()),
        visibility_public: body.visibility == Visibility::Public,
        room_alias_name: body.room_alias_name,
        name: body.name,
        topic: body.topic,
        invite: body.invite,
        is_direct: body.is_direct,
        initial_state,
        power_level_content_override: body
            .power_level_content_override
            .as_ref()
            .map(|raw| object(raw.json().get(), "power_level_content_override"))
            .transpose()?,
        creation_content: body
            .creation_content
            .as_ref()
            .map(|raw| object(raw.json().get(), "creation_content"))
            .transpose()?,
        room_version: body.room_version,
    };
    let room_id = services.create_room_anywhere(&request.auth, options).await?;
    Ok(create_room::Response::new(room_id))
}
