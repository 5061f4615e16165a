//! Server-side key backups: versions, and the session keys in them.

use accord_service::{
    Services,
    key_backup::{BackupCounts, BackupKeys, BackupVersionInfo, KeySelection},
};
use ruma::api::client::backup::{
    RoomKeyBackup, add_backup_keys::v3 as add_keys, add_backup_keys_for_room::v3 as add_room_keys,
    add_backup_keys_for_session::v3 as add_session_key, create_backup_version::v3 as create_version,
    delete_backup_keys::v3 as delete_keys, delete_backup_keys_for_room::v3 as delete_room_keys,
    delete_backup_keys_for_session::v3 as delete_session_key, delete_backup_version::v3 as delete_version,
    get_backup_info::v3 as get_version, get_backup_keys::v3 as get_keys, get_backup_keys_for_room::v3 as get_room_keys,
    get_backup_keys_for_session::v3 as get_session_key, get_latest_backup_info::v3 as get_latest_version,
    update_backup_version::v3 as update_version,
};

use crate::{Result, Ruma};

const ALL: KeySelection<'static> = KeySelection {
    room_id: None,
    session_id: None,
};

/// # `POST /_matrix/client/v3/room_keys/version`
pub async fn create_version_route(
    services: Services,
    request: Ruma<create_version::Request>,
) -> Result<create_version::Response> {
    let version = services.create_backup_version(&request.auth.user_id, &request.body.algorithm)?;
    Ok(create_version::Response::new(version))
}

/// # `GET /_matrix/client/v3/room_keys/version`
pub async fn get_latest_version_route(
    services: Services,
    request: Ruma<get_latest_version::Request>,
) -> Result<get_latest_version::Response> {
    let BackupVersionInfo {
        algorithm,
        count,
        etag,
        version,
    } = services.backup_version_info(&request.auth.user_id, None)?;
    Ok(get_latest_version::Response::new(algorithm, count, etag, version))
}

/// # `GET /_matrix/client/v3/room_keys/version/{version}`
pub async fn get_version_route(
    services: Services,
    request: Ruma<get_version::Request>,
) -> Result<get_version::Response> {
    let BackupVersionInfo {
        algorithm,
        count,
        etag,
        version,
    } = services.backup_version_info(&request.auth.user_id, Some(&request.body.version))?;
    Ok(get_version::Response::new(algorithm, count, etag, version))
}

/// # `PUT /_matrix/client/v3/room_keys/version/{version}`
pub async fn update_version_route(
    services: Services,
    request: Ruma<update_version::Request>,
) -> Result<update_version::Response> {
    let body = request.body;
    services.update_backup_version(&request.auth.user_id, &body.version, &body.algorithm)?;
    Ok(update_version::Response::new())
}

/// # `DELETE /_matrix/client/v3/room_keys/version/{version}`
pub async fn delete_version_route(
    services: Services,
    request: Ruma<delete_version::Request>,
) -> Result<delete_version::Response> {
    services.delete_backup_version(&request.auth.user_id, &request.body.version)?;
    Ok(delete_version::Response::new())
}

/// # `PUT /_matrix/client/v3/room_keys/keys`
pub async fn add_keys_route(services: Services, request: Ruma<add_keys::Request>) -> Result<add_keys::Response> {
    let body = request.body;
    let keys: BackupKeys = body
        .rooms
        .into_iter()
        .map(|(room_id, backup)| (room_id, backup.sessions))
        .collect();
    let BackupCounts { etag, count } = services.put_backup_keys(&request.auth.user_id, &body.version, &keys)?;
    Ok(add_keys::Response::new(etag, count))
}

/// # `PUT /_matrix/client/v3/room_keys/keys/{roomId}`
pub async fn add_room_keys_route(
    services: Services,
    request: Ruma<add_room_keys::Request>,
) -> Result<add_room_keys::Response> {
    let body = request.body;
    let keys = BackupKeys::from([(body.room_id, body.sessions)]);
    let BackupCounts { etag, count } = services.put_backup_keys(&request.auth.user_id, &body.version, &keys)?;
    Ok(add_room_keys::Response::new(etag, count))
}

/// # `PUT /_matrix/client/v3/room_keys/keys/{roomId}/{sessionId}`
pub async fn add_session_key_route(
    services: Services,
    request: Ruma<add_session_key::Request>,
) -> Result<add_session_key::Response> {
    let body = request.body;
    let session = [(body.session_id, body.session_data)].into();
    let keys = BackupKeys::from([(body.room_id, session)]);
    let BackupCounts { etag, count } = services.put_backup_keys(&request.auth.user_id, &body.version, &keys)?;
    Ok(add_session_key::Response::new(etag, count))
}

/// # `GET /_matrix/client/v3/room_keys/keys`
pub async fn get_keys_route(services: Services, request: Ruma<get_keys::Request>) -> Result<get_keys::Response> {
    let keys = services.backup_keys(&request.auth.user_id, &request.body.version, None)?;
    let rooms = keys
        .into_iter()
        .map(|(room_id, sessions)| (room_id, RoomKeyBackup::new(sessions)))
        .collect();
    Ok(get_keys::Response::new(rooms))
}

/// # `GET /_matrix/client/v3/room_keys/keys/{roomId}`
pub async fn get_room_keys_route(
    services: Services,
    request: Ruma<get_room_keys::Request>,
) -> Result<get_room_keys::Response> {
    let body = &request.body;
    let mut keys = services.backup_keys(&request.auth.user_id, &body.version, Some(&body.room_id))?;
    let sessions = keys.remove(&body.room_id).unwrap_or_default();
    Ok(get_room_keys::Response::new(sessions))
}

/// # `GET /_matrix/client/v3/room_keys/keys/{roomId}/{sessionId}`
pub async fn get_session_key_route(
    services: Services,
    request: Ruma<get_session_key::Request>,
) -> Result<get_session_key::Response> {
    let body = &request.body;
    let key = services.backup_session_key(&request.auth.user_id, &body.version, &body.room_id, &body.session_id)?;
    Ok(get_session_key::Response::new(key))
}

/// # `DELETE /_matrix/client/v3/room_keys/keys`
pub async fn delete_keys_route(
    services: Services,
    request: Ruma<delete_keys::Request>,
) -> Result<delete_keys::Response> {
    let BackupCounts { etag, count } =
        services.delete_backup_keys(&request.auth.user_id, &request.body.version, ALL)?;
    Ok(delete_keys::Response::new(etag, count))
}

/// # `DELETE /_matrix/client/v3/room_keys/keys/{roomId}`
pub async fn delete_room_keys_route(
    services: Services,
    request: Ruma<delete_room_keys::Request>,
) -> Result<delete_room_keys::Response> {
    let body = &request.body;
    let which = KeySelection {
        room_id: Some(&body.room_id),
        session_id: None,
    };
    let BackupCounts { etag, count } = services.delete_backup_keys(&request.auth.user_id, &body.version, which)?;
    Ok(delete_room_keys::Response::new(etag, count))
}

/// # `DELETE /_matrix/client/v3/room_keys/keys/{roomId}/{sessionId}`
pub async fn delete_session_key_route(
    services: Services,
    request: Ruma<delete_session_key::Request>,
) -> Result<delete_session_key::Response> {
    let body = &request.body;
    let which = KeySelection {
        room_id: Some(&body.room_id),
        session_id: Some(&body.session_id),
    };
    let BackupCounts { etag, count } = services.delete_backup_keys(&request.auth.user_id, &body.version, which)?;
    Ok(delete_session_key::Response::new(etag, count))
}
