//! Profiles: whole profile, display name, avatar URL.

use accord_testkit::TestServer;
use serde_json::json;

#[tokio::test]
async fn display_name_and_avatar_round_trip() {
    let server = TestServer::start().await;
    let user = server.register("uma", "pw-123456").await;
    let base = format!("/_matrix/client/v3/profile/{}", user.user_id);
    // Registration sets the localpart as the display name, as Synapse does.
    assert_eq!(
        server.get(&format!("{base}/displayname"), None).await.ok()["displayname"],
        json!("uma")
    );

    server
        .put(
            &format!("{base}/displayname"),
            Some(&user.token),
            json!({ "displayname": "Uma U." }),
        )
        .await
        .ok();
    server
        .put(
            &format!("{base}/avatar_url"),
            Some(&user.token),
            json!({ "avatar_url": "mxc://localhost/abc" }),
        )
        .await
        .ok();
    assert_eq!(
        server.get(&format!("{base}/displayname"), None).await.ok()["displayname"],
        json!("Uma U.")
    );
    assert_eq!(
        server.get(&format!("{base}/avatar_url"), None).await.ok()["avatar_url"],
        json!("mxc://localhost/abc")
    );
    let whole = server.get(&base, Some(&user.token)).await.ok();
    assert_eq!(
        whole,
        json!({ "displayname": "Uma U.", "avatar_url": "mxc://localhost/abc" })
    );

    let bad = server
        .put(
            &format!("{base}/avatar_url"),
            Some(&user.token),
            // Any string is taken (as Synapse does), up to 1000 bytes.
            json!({ "avatar_url": "x".repeat(1001) }),
        )
        .await;
    assert_eq!(bad.status, 400, "{}", bad.body);
}

#[tokio::test]
async fn others_profiles_are_read_only_and_unknown_users_404() {
    let server = TestServer::start().await;
    let vic = server.register("vic", "pw-123456").await;
    server.register("wes", "pw-123456").await;
    let reply = server
        .put(
            "/_matrix/client/v3/profile/@wes:localhost/displayname",
            Some(&vic.token),
            json!({ "displayname": "pwned" }),
        )
        .await;
    reply.assert_error(403, "M_FORBIDDEN");
    assert_eq!(
        server
            .get("/_matrix/client/v3/profile/@wes:localhost/displayname", None)
            .await
            .ok()["displayname"],
        json!("wes")
    );
    server
        .get("/_matrix/client/v3/profile/@ghost:localhost", None)
        .await
        .assert_error(404, "M_NOT_FOUND");
    server
        .get("/_matrix/client/v3/profile/@ghost:localhost/displayname", None)
        .await
        .assert_error(404, "M_NOT_FOUND");
    let path = format!("/_matrix/client/v3/profile/{}/displayname", vic.user_id);
    server
        .put(&path, None, json!({ "displayname": "x" }))
        .await
        .assert_error(401, "M_MISSING_TOKEN");
}
