//! Push rules: server defaults, user rules, enable/disable and actions.

use accord_testkit::TestServer;
use serde_json::json;

#[tokio::test]
async fn defaults_are_the_spec_server_default_rules() {
    let server = TestServer::start().await;
    let user = server.register("eli", "pw-123456").await;
    let all = server
        .get("/_matrix/client/v3/pushrules/", Some(&user.token))
        .await
        .ok();
    let global = &all["global"];
    let ids = |kind: &str| -> Vec<String> {
        global[kind]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["rule_id"].as_str().map(str::to_owned))
            .collect()
    };
    for id in [
        ".m.rule.master",
        ".m.rule.suppress_notices",
        ".m.rule.invite_for_me",
        ".m.rule.member_event",
    ] {
        assert!(
            ids("override").contains(&id.to_owned()),
            "override lacks {id}: {global}"
        );
    }
    for id in [
        ".m.rule.call",
        ".m.rule.encrypted_room_one_to_one",
        ".m.rule.message",
        ".m.rule.encrypted",
    ] {
        assert!(ids("underride").contains(&id.to_owned()), "underride lacks {id}");
    }
    let master = server
        .get(
            "/_matrix/client/v3/pushrules/global/override/.m.rule.master",
            Some(&user.token),
        )
        .await
        .ok();
    assert_eq!(master["enabled"], json!(false));
    let scoped = server
        .get("/_matrix/client/v3/pushrules/global/", Some(&user.token))
        .await
        .ok();
    assert_eq!(&scoped, global);
}

#[tokio::test]
async fn user_rules_can_be_added_changed_and_removed() {
    let server = TestServer::start().await;
    let user = server.register("fay", "pw-123456").await;
    let token = Some(user.token.as_str());
    let rule = "/_matrix/client/v3/pushrules/global/content/cake";
    server
        .put(rule, token, json!({ "pattern": "cake*", "actions": ["notify"] }))
        .await
        .ok();
    let stored = server.get(rule, token).await.ok();
    assert_eq!(
        (stored["pattern"].as_str(), stored["enabled"].as_bool()),
        (Some("cake*"), Some(true)),
        "{stored}"
    );

    server
        .put(&format!("{rule}/enabled"), token, json!({ "enabled": false }))
        .await
        .ok();
    assert_eq!(
        server.get(&format!("{rule}/enabled"), token).await.ok(),
        json!({ "enabled": false })
    );
    server
        .put(&format!("{rule}/actions"), token, json!({ "actions": [] }))
        .await
        .ok();
    assert_eq!(
        server.get(&format!("{rule}/actions"), token).await.ok(),
        json!({ "actions": [] })
    );

    // Server-default rules can be toggled but not deleted or overwritten.
    let master = "/_matrix/client/v3/pushrules/global/override/.m.rule.master";
    server
        .put(&format!("{master}/enabled"), token, json!({ "enabled": true }))
        .await
        .ok();
    assert_eq!(
        server.get(&format!("{master}/enabled"), token).await.ok(),
        json!({ "enabled": true })
    );
    assert_eq!(server.delete(master, token, None).await.status, 400);
    assert_eq!(server.put(master, token, json!({ "actions": [] })).await.status, 400);

    server.delete(rule, token, None).await.ok();
    server.get(rule, token).await.assert_error(404, "M_NOT_FOUND");
    server.delete(rule, token, None).await.assert_error(404, "M_NOT_FOUND");
    server
        .get(&format!("{rule}/enabled"), token)
        .await
        .assert_error(404, "M_NOT_FOUND");
    let before_missing = server
        .put(
            "/_matrix/client/v3/pushrules/global/content/pie?before=nope",
            token,
            json!({ "pattern": "pie", "actions": [] }),
        )
        .await;
    before_missing.assert_error(404, "M_NOT_FOUND");
}
