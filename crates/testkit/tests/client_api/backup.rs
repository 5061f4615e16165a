//! Backups: one taken while messages keep arriving restores to a server that serves the same
//! history up to the backup (and the media uploaded before it), and every restored event
//! verifies; only admins take backups, into new directories only.

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use accord_testkit::TestServer;
use serde_json::json;

use crate::media_support::{fetch, media_path, upload};

/// `(event_id, body)` of the room's messages, newest first.
async fn history(server: &TestServer, token: &str, room: &str) -> Vec<(String, String)> {
    let page = server
        .get(
            &format!("/_matrix/client/v3/rooms/{room}/messages?dir=b&limit=1000"),
            Some(token),
        )
        .await
        .ok();
    page["chunk"]
        .as_array()
        .expect("chunk")
        .iter()
        .filter(|event| event["type"] == "m.room.message")
        .map(|event| {
            (
                event["event_id"].as_str().unwrap_or_default().to_owned(),
                event["content"]["body"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_backup_under_load_restores_the_same_history_and_verifies() {
    let server = TestServer::start().await;
    let admin = server.create_user("root", "pw-root-1", true).await;
    let alice = server.register("alice", "pw-alice-1").await;
    let room = server.create_room(&alice, json!({ "name": "Load" })).await;
    let mxc = upload(&server, &alice, b"the minutes".to_vec(), "text/plain", None).await;
    for n in 0..20 {
        server.send_text(&alice, &room, &format!("before {n}")).await;
    }

    // Messages keep arriving while the backup is taken.
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let base = format!("http://{}", server.running().client_addr);
        let (token, room, stop) = (alice.token.clone(), room.clone(), stop.clone());
        tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut sent = 0u32;
            while !stop.load(Ordering::Relaxed) {
                let url = format!("{base}/_matrix/client/v3/rooms/{room}/send/m.room.message/load{sent}");
                let response = http
                    .put(url)
                    .bearer_auth(&token)
                    .json(&json!({ "msgtype": "m.text", "body": format!("during {sent}") }))
                    .send()
                    .await
                    .expect("send");
                assert_eq!(response.status(), 200);
                sent += 1;
            }
            sent
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let target = tempfile::tempdir().expect("dir");
    let to = target.path().join("backup");
    server
        .post("/_accord/admin/v1/backup", Some(&alice.token), json!({ "to": to }))
        .await
        .assert_error(403, "M_FORBIDDEN");
    let manifest = server
        .post("/_accord/admin/v1/backup", Some(&admin.token), json!({ "to": to }))
        .await
        .ok();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    let sent_during = load.await.expect("load task");
    assert!(sent_during > 0, "messages were sent while the backup ran");
    assert_eq!(manifest["server_name"], "localhost");
    assert_eq!(manifest["media_included"], true);
    assert!(manifest["media_files"].as_u64().is_some_and(|files| files >= 1));
    // Never into a directory that holds something.
    server
        .post("/_accord/admin/v1/backup", Some(&admin.token), json!({ "to": to }))
        .await
        .assert_error(400, "M_INVALID_PARAM");
    let original = history(&server, &alice.token, &room).await;

    // Restore into a new place and serve it.
    let restored_dir = tempfile::tempdir().expect("dir");
    let db_path = restored_dir.path().join("db");
    let media_dir = restored_dir.path().join("media");
    let mut config = server.config.clone();
    config.database.path = db_path.clone();
    config.media.path = Some(media_dir.clone());
    accord_service::backup::restore(&to, &config, false).expect("restore");
    let restored = TestServer::start_with(|c| {
        c.database.path = db_path.clone();
        c.media.path = Some(media_dir.clone());
    })
    .await;
    // The sessions are in the backup: Alice's token works there.
    let copy = history(&restored, &alice.token, &room).await;
    assert!(
        copy.len() >= 20,
        "at least the messages before the backup: {}",
        copy.len()
    );
    assert!(
        original.ends_with(&copy),
        "the restored history is the original's up to the backup\noriginal: {original:?}\nrestored: {copy:?}"
    );
    assert!(copy.len() < original.len(), "messages after the backup are not in it");
    let file = fetch(
        &restored,
        &format!("/_matrix/client/v1/media/download/{}", media_path(&mxc)),
        Some(&alice.token),
    )
    .await;
    assert_eq!((file.status, file.bytes.as_slice()), (200, b"the minutes".as_slice()));

    // Every restored event verifies.
    let services = &restored.running().services;
    let report =
        accord_service::integrity::verify_database(services.db(), services.rooms.rooms().identity()).expect("verify");
    assert_eq!(report.failed, 0, "{:?}", report.problems);
    assert!(report.verified as usize >= copy.len(), "{report:?}");
    assert_eq!(report.unverifiable, 0);
}
