//! The export of a person's data (GDPR): an archive with every message they sent (counted),
//! their uploads with their bytes, account, profile, devices, memberships, account data and
//! the audit records about them; never the password hash; recorded in the audit log.

use std::{collections::HashMap, io::Read};

use accord_testkit::TestServer;
use serde_json::{Value, json};

use crate::media_support::upload;

/// The archive's files by path.
fn unpack(archive: &[u8]) -> HashMap<String, Vec<u8>> {
    let mut files = HashMap::new();
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(archive));
    for entry in tar.entries().expect("a tar archive") {
        let mut entry = entry.expect("an entry");
        let path = entry.path().expect("a path").to_string_lossy().into_owned();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).expect("read");
        files.insert(path, bytes);
    }
    files
}

fn json_file(files: &HashMap<String, Vec<u8>>, path: &str) -> Value {
    serde_json::from_slice(files.get(path).unwrap_or_else(|| panic!("no {path}"))).expect("JSON")
}

#[tokio::test]
async fn an_export_holds_every_message_and_upload_of_the_user() {
    let server = TestServer::start().await;
    let admin = server.create_user("root", "pw-root-1", true).await;
    let alice = server.register("alice", "pw-alice-1").await;
    let bob = server.register("bob", "pw-bob-12").await;
    let room = server.create_room(&alice, json!({ "preset": "public_chat" })).await;
    let other = server.create_room(&alice, json!({})).await;
    server.join(&bob, &room).await.ok();
    for n in 0..25 {
        server.send_text(&alice, &room, &format!("alice says {n}")).await;
        server.send_text(&bob, &room, &format!("bob says {n}")).await;
    }
    for n in 0..5 {
        server.send_text(&alice, &other, &format!("private {n}")).await;
    }
    let photo = upload(
        &server,
        &alice,
        b"a photo's bytes".to_vec(),
        "image/png",
        Some("photo.png"),
    )
    .await;
    upload(&server, &bob, b"not alice's".to_vec(), "text/plain", None).await;
    server
        .put(
            "/_matrix/client/v3/user/@alice:localhost/account_data/org.example.settings",
            Some(&alice.token),
            json!({ "theme": "dark" }),
        )
        .await
        .ok();

    let reply = server
        .request_raw(
            http::Method::GET,
            "/_accord/admin/v1/users/@alice:localhost/export",
            Some(&admin.token),
            None,
            None,
        )
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), "application/gzip");
    let files = unpack(&reply.bytes);

    let events: Vec<Value> = String::from_utf8(files["events.jsonl"].clone())
        .expect("utf-8")
        .lines()
        .map(|line| serde_json::from_str(line).expect("JSON line"))
        .collect();
    assert!(
        events.iter().all(|event| event["sender"] == alice.user_id),
        "only Alice's events"
    );
    let messages: Vec<&str> = events
        .iter()
        .filter(|event| event["type"] == "m.room.message")
        .filter_map(|event| event["content"]["body"].as_str())
        .collect();
    assert_eq!(messages.len(), 30, "every message Alice sent");
    assert_eq!(messages[0], "alice says 0");
    assert!(messages.contains(&"private 4"));

    let media = json_file(&files, "media.json");
    assert_eq!(media.as_array().map(Vec::len), Some(1));
    assert_eq!(media[0]["mxc"], photo);
    assert_eq!(media[0]["filename"], "photo.png");
    let media_id = photo.rsplit('/').next().expect("media id");
    assert_eq!(files[&format!("media/{media_id}")], b"a photo's bytes");

    let account = json_file(&files, "account.json");
    assert_eq!(account["user_id"], alice.user_id);
    assert!(account.get("password_hash").is_none(), "never the password hash");
    assert_eq!(json_file(&files, "profile.json")["displayname"], "alice");
    assert_eq!(json_file(&files, "devices.json")[0]["device_id"], alice.device_id);
    assert_eq!(json_file(&files, "memberships.json").as_array().map(Vec::len), Some(2));
    assert_eq!(
        json_file(&files, "account_data.json")["global"][0],
        json!(["org.example.settings", { "theme": "dark" }])
    );
    let manifest = json_file(&files, "manifest.json");
    assert_eq!(manifest["events"], events.len());
    assert_eq!(manifest["media_files"], 1);
    let audit = String::from_utf8(files["audit.jsonl"].clone()).expect("utf-8");
    assert!(audit.contains("\"account_created\""), "{audit}");

    // The export itself is in the audit log.
    let recorded = server
        .get("/_accord/admin/v1/audit?kind=user_data_exported", Some(&admin.token))
        .await
        .ok();
    assert_eq!(recorded["records"][0]["target"], alice.user_id);
    assert_eq!(recorded["records"][0]["actor"], admin.user_id);
    server
        .get("/_accord/admin/v1/users/@nobody:localhost/export", Some(&admin.token))
        .await
        .assert_error(404, "M_NOT_FOUND");
}
