//! Locked and suspended accounts (spec v1.12 and v1.13, admin endpoints of v1.18 and Synapse's
//! suspend endpoint) and `[password_policy]`.

use accord_testkit::{Reply, TestServer, TestUser};
use serde_json::json;

const LOCK: &str = "/_matrix/client/v1/admin/lock";
const SUSPEND: &str = "/_matrix/client/v1/admin/suspend";

async fn set(server: &TestServer, admin: &TestUser, base: &str, target: &str, field: &str, on: bool) -> Reply {
    server
        .put(&format!("{base}/{target}"), Some(&admin.token), json!({ field: on }))
        .await
}

#[tokio::test]
async fn a_locked_account_can_only_log_out_and_resumes_its_sessions_when_unlocked() {
    let server = TestServer::start().await;
    let admin = server.create_user("root", "pw-root-1", true).await;
    let bob = server.register("bob", "pw-bob-1").await;
    let second = server.login("bob", "pw-bob-1").await.ok();
    let second_token = second["access_token"].as_str().unwrap_or_default().to_owned();

    assert_eq!(
        set(&server, &admin, LOCK, &bob.user_id, "locked", true).await.ok(),
        json!({ "locked": true })
    );
    assert_eq!(
        server
            .get(&format!("{LOCK}/{}", bob.user_id), Some(&admin.token))
            .await
            .ok(),
        json!({ "locked": true })
    );
    let sync = server.get("/_matrix/client/v3/sync?timeout=0", Some(&bob.token)).await;
    sync.assert_error(401, "M_USER_LOCKED");
    assert_eq!(sync.body["soft_logout"], json!(true), "{}", sync.body);
    server
        .get("/_matrix/client/v3/account/whoami", Some(&bob.token))
        .await
        .assert_error(401, "M_USER_LOCKED");
    // The right password gets the same answer, and no new device.
    server.login("bob", "pw-bob-1").await.assert_error(401, "M_USER_LOCKED");
    // Clients still learn the versions, and logging out works.
    server.get("/_matrix/client/versions", Some(&bob.token)).await.ok();
    server
        .post("/_matrix/client/v3/logout", Some(&second_token), json!({}))
        .await
        .ok();

    set(&server, &admin, LOCK, &bob.user_id, "locked", false).await.ok();
    // The session that stayed resumes with the same token; the logged-out one is gone.
    server
        .get("/_matrix/client/v3/account/whoami", Some(&bob.token))
        .await
        .ok();
    server
        .get("/_matrix/client/v3/account/whoami", Some(&second_token))
        .await
        .assert_error(401, "M_UNKNOWN_TOKEN");
}

#[tokio::test]
async fn only_admins_lock_and_suspend_and_never_themselves_or_other_admins() {
    let server = TestServer::start().await;
    let admin = server.create_user("root", "pw-root-1", true).await;
    let other_admin = server.create_user("root2", "pw-root-2", true).await;
    let alice = server.register("alice", "pw-alice-1").await;
    let bob = server.register("bob", "pw-bob-1").await;
    for base in [LOCK, SUSPEND] {
        let field = if base == LOCK { "locked" } else { "suspended" };
        // A non-admin learns nothing, not even whether the account exists (403 before 404).
        set(&server, &alice, base, &bob.user_id, field, true)
            .await
            .assert_error(403, "M_FORBIDDEN");
        set(&server, &alice, base, "@ghost:localhost", field, true)
            .await
            .assert_error(403, "M_FORBIDDEN");
        server
            .get(&format!("{base}/{}", bob.user_id), Some(&alice.token))
            .await
            .assert_error(403, "M_FORBIDDEN");
        set(&server, &admin, base, &admin.user_id, field, true)
            .await
            .assert_error(403, "M_FORBIDDEN");
        set(&server, &admin, base, &other_admin.user_id, field, true)
            .await
            .assert_error(403, "M_FORBIDDEN");
        set(&server, &admin, base, "@ghost:localhost", field, true)
            .await
            .assert_error(404, "M_NOT_FOUND");
        set(&server, &admin, base, "@bob:elsewhere.example", field, true)
            .await
            .assert_error(400, "M_INVALID_PARAM");
    }
    // Admins see the capability; other users don't.
    let caps = |user: &TestUser| {
        let (server, token) = (&server, user.token.clone());
        async move { server.get("/_matrix/client/v3/capabilities", Some(&token)).await.ok() }
    };
    assert_eq!(
        caps(&admin).await["capabilities"]["m.account_moderation"],
        json!({ "lock": true, "suspend": true })
    );
    assert!(caps(&alice).await["capabilities"].get("m.account_moderation").is_none());
}

#[tokio::test]
async fn a_suspended_account_reads_and_leaves_but_does_not_send_join_invite_or_change_its_profile() {
    let server = TestServer::start().await;
    let admin = server.create_user("root", "pw-root-1", true).await;
    let alice = server.register("alice", "pw-alice-1").await;
    let bob = server.register("bob", "pw-bob-1").await;
    let room = server.create_room(&alice, json!({ "preset": "public_chat" })).await;
    let other = server.create_room(&alice, json!({ "preset": "public_chat" })).await;
    server.join(&bob, &room).await.ok();
    let own = server.send_text(&bob, &room, "before").await;

    // Synapse's admin endpoint, as its tools call it.
    let suspended = server
        .put(
            &format!("/_synapse/admin/v1/suspend/{}", bob.user_id),
            Some(&admin.token),
            json!({ "suspend": true }),
        )
        .await
        .ok();
    assert_eq!(suspended, json!({ format!("user_{}_suspended", bob.user_id): true }));
    assert_eq!(
        server
            .get(&format!("{SUSPEND}/{}", bob.user_id), Some(&admin.token))
            .await
            .ok(),
        json!({ "suspended": true })
    );

    let refused = [
        server
            .put(
                &format!("/_matrix/client/v3/rooms/{room}/send/m.room.message/s1"),
                Some(&bob.token),
                json!({ "msgtype": "m.text", "body": "no" }),
            )
            .await,
        server
            .put(
                &format!("/_matrix/client/v3/rooms/{room}/state/m.room.topic/"),
                Some(&bob.token),
                json!({ "topic": "no" }),
            )
            .await,
        server.join(&bob, &other).await,
        server
            .post(
                &format!("/_matrix/client/v3/rooms/{room}/invite"),
                Some(&bob.token),
                json!({ "user_id": admin.user_id }),
            )
            .await,
        server
            .put(
                &format!("/_matrix/client/v3/profile/{}/displayname", bob.user_id),
                Some(&bob.token),
                json!({ "displayname": "Robert" }),
            )
            .await,
        server
            .post("/_matrix/client/v3/createRoom", Some(&bob.token), json!({}))
            .await,
    ];
    for reply in &refused {
        reply.assert_error(403, "M_USER_SUSPENDED");
    }
    // Still possible: reading, logging in, taking back his own words, leaving.
    server.sync(&bob, None, 0, None).await;
    server.login("bob", "pw-bob-1").await.ok();
    server
        .put(
            &format!("/_matrix/client/v3/rooms/{room}/redact/{own}/r1"),
            Some(&bob.token),
            json!({}),
        )
        .await
        .ok();
    server
        .post(
            &format!("/_matrix/client/v3/rooms/{room}/leave"),
            Some(&bob.token),
            json!({}),
        )
        .await
        .ok();

    set(&server, &admin, SUSPEND, &bob.user_id, "suspended", false)
        .await
        .ok();
    server.join(&bob, &room).await.ok();
    server.send_text(&bob, &room, "back").await;
}

#[tokio::test]
async fn the_password_policy_refuses_weak_passwords_before_any_stage() {
    let server = TestServer::start_with(|c| {
        c.password_policy.enabled = true;
        c.password_policy.minimum_length = 10;
        c.password_policy.require_digit = true;
        c.password_policy.require_uppercase = true;
    })
    .await;
    let weak = server
        .post(
            "/_matrix/client/v3/register",
            None,
            json!({ "username": "weak", "password": "short1A" }),
        )
        .await;
    weak.assert_error(400, "M_WEAK_PASSWORD");
    assert!(
        weak.body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("10 characters"),
        "{}",
        weak.body
    );
    server
        .get("/_matrix/client/v3/register/available?username=weak", None)
        .await
        .ok();
    let user = server.register("strong", "Long enough 42").await;
    let change = |password: &'static str| {
        let (server, user) = (&server, &user);
        async move {
            server
                .post(
                    "/_matrix/client/v3/account/password",
                    Some(&user.token),
                    json!({ "new_password": password, "auth": { "type": "m.login.password",
                        "identifier": { "type": "m.id.user", "user": "strong" }, "password": "Long enough 42" } }),
                )
                .await
        }
    };
    change("no digits here, Sir").await.assert_error(400, "M_WEAK_PASSWORD");
    change("no upper case 42").await.assert_error(400, "M_WEAK_PASSWORD");
    change(Box::leak("x".repeat(600).into_boxed_str()))
        .await
        .assert_error(400, "M_INVALID_PARAM");
    change("Another one 43").await.ok();
    server.login("strong", "Another one 43").await.ok();
}
