//! Server-side key backups: versions, and the session keys in them.

use accord_service::{
    Services,
    key_backup::{BackupKeys, KeySelection},
};
use ruma::api::client::backup::{
    add_backup_keys::v3 as add_keys, add_backup_keys_for_room::v3 as add_room_keys,
    add_backup_keys_for_session::v3 as add_session_key, create_backup_version::v3 as create_version,
    delete_backup_keys::v3 as delete_keys, delete_backup_keys_for_room::v3 as delete_room_keys,
    delete_backup_keys_for_session::v3 as delete_session_key, delete_backup_version::v3 as delete_version,
    get_backup_info::v3 as get_version, get_backup_keys::v3 as get_keys, get_backup_keys_for_room::v3 as get_room_keys,
    get_backup_keys_for_session::v3 as get_session_key, get_latest_backup_info::v3 as get_latest_version,
    update_backup_version::v3 as update_version,
};
use serde_json::{Value, json};

use super::json::{from_value, to_value};
use crate::{Result, Ruma};

const ALL: KeySelection<'static> = KeySelection {
    room_id: None,
    session_id: None,
};

/// # `POST /_matrix/client/v3/room_keys/version`
pub async fn create_version_route(services: Services, request: Ruma<create_version::Request>) -> Result<Value> {
    let algorithm = to_value(&request.body.algorithm)?;
    let version = services.create_backup_version(&request.auth.user_id, &algorithm)?;
    Ok(json!({ "version": version }))
}

/// # `GET /_matrix/client/v3/room_keys/version`
pub async fn get_latest_version_route(services: Services, request: Ruma<get_latest_version::Request>) -> Result<Value> {
    Ok(services.backup_version_info(&request.auth.user_id, None)?)
}

/// # `GET /_matrix/client/v3/room_keys/version/{version}`
pub async fn get_version_route(services: Services, request: Ruma<get_version::Request>) -> Result<Value> {
    Ok(services.backup_version_info(&request.auth.user_id, Some(&request.body.version))?)
}

/// # `PUT /_matrix/client/v3/room_keys/version/{version}`
pub async fn update_version_route(services: Services, request: Ruma<update_version::Request>) -> Result<Value> {
    let body = request.body;
    let algorithm = to_value(&body.algorithm)?;
    services.update_backup_version(&request.auth.user_id, &body.version, &algorithm)?;
    Ok(json!({}))
}

/// # `DELETE /_matrix/client/v3/room_keys/version/{version}`
pub async fn delete_version_route(services: Services, request: Ruma<delete_version::Request>) -> Result<Value> {
    services.delete_backup_version(&request.auth.user_id, &request.body.version)?;
    Ok(json!({}))
}

/// # `PUT /_matrix/client/v3/room_keys/keys`
pub async fn add_keys_route(services: Services, request: Ruma<add_keys::Request>) -> Result<Value> {
    let body = request.body;
    let mut keys = BackupKeys::new();
    for (room_id, backup) in &body.rooms {
        keys.insert(room_id.clone(), from_value(to_value(&backup.sessions)?)?);
    }
    Ok(services.put_backup_keys(&request.auth.user_id, &body.version, &keys)?)
}

/// # `PUT /_matrix/client/v3/room_keys/keys/{roomId}`
pub async fn add_room_keys_route(services: Services, request: Ruma<add_room_keys::Request>) -> Result<Value> {
    let body = request.body;
    let keys = BackupKeys::from([(body.room_id.clone(), from_value(to_value(&body.sessions)?)?)]);
    Ok(services.put_backup_keys(&request.auth.user_id, &body.version, &keys)?)
}

/// # `PUT /_matrix/client/v3/room_keys/keys/{roomId}/{sessionId}`
pub async fn add_session_key_route(services: Services, request: Ruma<add_session_key::Request>) -> Result<Value> {
    let body = request.body;
    let session = [(body.session_id.clone(), to_value(&body.session_data)?)].into();
    let keys = BackupKeys::from([(body.room_id.clone(), session)]);
    Ok(services.put_backup_keys(&request.auth.user_id, &body.version, &keys)?)
}

/// # `GET /_matrix/client/v3/room_keys/keys`
pub async fn get_keys_route(services: Services, request: Ruma<get_keys::Request>) -> Result<Value> {
    Ok(services.get_backup_keys(&request.auth.user_id, &request.body.version, ALL)?)
}

/// # `GET /_matrix/client/v3/room_keys/keys/{roomId}`
pub async fn get_room_keys_route(services: Services, request: Ruma<get_room_keys::Request>) -> Result<Value> {
    let body = &request.body;
    let which = KeySelection {
        room_id: Some(&body.room_id),
        session_id: None,
    };
    Ok(services.get_backup_keys(&request.auth.user_id, &body.version, which)?)
}

/// # `GET /_matrix/client/v3/room_keys/keys/{roomId}/{sessionId}`
pub async fn get_session_key_route(services: Services, request: Ruma<get_session_key::Request>) -> Result<Value> {
    let body = &request.body;
    let which = KeySelection {
        room_id: Some(&body.room_id),
        session_id: Some(&body.session_id),
    };
    Ok(services.get_backup_keys(&request.auth.user_id, &body.version, which)?)
}

/// # `DELETE /_matrix/client/v3/room_keys/keys`
pub async fn delete_keys_route(services: Services, request: Ruma<delete_keys::Request>) -> Result<Value> {
    Ok(services.delete_backup_keys(&request.auth.user_id, &request.body.version, ALL)?)
}

/// # `DELETE /_matrix/client/v3/room_keys/keys/{roomId}`
pub async fn delete_room_keys_route(services: Services, request: Ruma<delete_room_keys::Request>) -> Result<Value> {
    let body = &request.body;
    let which = KeySelection {
        room_id: Some(&body.room_id),
        session_id: None,
    };
    Ok(services.delete_backup_keys(&request.auth.user_id, &body.version, which)?)
}

/// # `DELETE /_matrix/client/v3/room_keys/keys/{roomId}/{sessionId}`
pub async fn delete_session_key_route(services: Services, request: Ruma<delete_session_key::Request>) -> Result<Value> {
    let body = &request.body;
    let which = KeySelection {
        room_id: Some(&body.room_id),
        session_id: Some(&body.session_id),
    };
    Ok(services.delete_backup_keys(&request.auth.user_id, &body.version, which)?)
}
