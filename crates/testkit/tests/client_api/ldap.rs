//! LDAP login against a real OpenLDAP `slapd` started on loopback: right and wrong
//! passwords, users not in the directory, the admin group, disabled accounts, injection in
//! the name, StartTLS with the test CA, and a directory that is down.

use accord_core::Config;
use accord_testkit::{
    TestServer,
    ca::TestCa,
    directory::{ADMINS, PEOPLE, SERVICE_DN, SERVICE_PASSWORD, TestDirectory},
};
use ruma::UserId;
use serde_json::json;

fn use_directory(config: &mut Config, directory: &TestDirectory) {
    let ldap = &mut config.ldap;
    ldap.enabled = true;
    ldap.uri = directory.uri.clone();
    ldap.bind_dn = SERVICE_DN.to_owned();
    ldap.bind_password = Some(SERVICE_PASSWORD.to_owned());
    ldap.base_dn = PEOPLE.to_owned();
    // Disabled people are those the filter leaves out (in Active Directory, the
    // userAccountControl bit; here an attribute the test sets).
    ldap.user_filter = "(&(objectClass=inetOrgPerson)(uid={localpart})(!(employeeType=disabled)))".to_owned();
    ldap.admin_filter = Some(format!("(memberOf={ADMINS})"));
}

async fn people() -> TestDirectory {
    let directory = TestDirectory::start(None).await;
    directory.add_person("alice", "Alice Adams", "alice-directory-pw").await;
    directory.add_person("bob", "Bob Brown", "bob-directory-pw").await;
    directory.add_person("carol", "Carol Clark", "carol-directory-pw").await;
    directory.add_admins(&["alice"]).await;
    directory
}

/// Whether `localpart` has an account; one the directory made keeps no local password.
fn exists(server: &TestServer, localpart: &str) -> bool {
    let user = UserId::parse(format!("@{localpart}:localhost")).expect("user id");
    let account = server.running().services.db().get_account(&user).expect("read");
    if let Some(account) = &account {
        assert!(
            account.password_hash.is_none(),
            "directory accounts keep no local password"
        );
    }
    account.is_some()
}

fn is_admin(server: &TestServer, localpart: &str) -> bool {
    let user = UserId::parse(format!("@{localpart}:localhost")).expect("user id");
    server.running().services.accounts.is_admin(&user).expect("read")
}

#[tokio::test]
async fn directory_users_log_in_and_get_accounts_with_the_directorys_name_and_admin_group() {
    let directory = people().await;
    let server = TestServer::start_with(|c| use_directory(c, &directory)).await;
    assert!(!exists(&server, "alice"));
    let login = server.login("alice", "alice-directory-pw").await.ok();
    assert_eq!(login["user_id"], json!("@alice:localhost"));
    assert!(exists(&server, "alice"));
    assert!(is_admin(&server, "alice"), "alice is in the admins' group");
    let token = login["access_token"].as_str().unwrap_or_default();
    let profile = server
        .get("/_matrix/client/v3/profile/@alice:localhost", Some(token))
        .await
        .ok();
    assert_eq!(profile["displayname"], json!("Alice Adams"));
    server.login("@Bob:localhost", "bob-directory-pw").await.ok();
    assert!(!is_admin(&server, "bob"));

    // Confirming with the password (UIA) asks the directory too.
    let alice = login["device_id"].as_str().unwrap_or_default().to_owned();
    let other = server.login("alice", "alice-directory-pw").await.ok();
    let delete = server
        .post(
            "/_matrix/client/v3/delete_devices",
            Some(token),
            json!({ "devices": [other["device_id"]], "auth": { "type": "m.login.password",
                "identifier": { "type": "m.id.user", "user": "alice" }, "password": "alice-directory-pw" } }),
        )
        .await;
    assert_eq!(delete.status, 200, "{}", delete.body);
    assert!(!alice.is_empty());
    // The directory keeps the password: changing it here is refused.
    server
        .post(
            "/_matrix/client/v3/account/password",
            Some(token),
            json!({ "new_password": "a-new-one-1", "auth": { "type": "m.login.password",
                "identifier": { "type": "m.id.user", "user": "alice" }, "password": "alice-directory-pw" } }),
        )
        .await
        .assert_error(403, "M_FORBIDDEN");

    // Leaving the admins' group takes effect at the next login.
    directory.remove_admin("alice").await;
    server.login("alice", "alice-directory-pw").await.ok();
    assert!(!is_admin(&server, "alice"));
}

#[tokio::test]
async fn wrong_passwords_unknown_users_and_injection_are_refused_and_create_nothing() {
    let directory = people().await;
    let server = TestServer::start_with(|c| use_directory(c, &directory)).await;
    server.login("bob", "not-bobs").await.assert_error(403, "M_FORBIDDEN");
    // An empty password would be an anonymous bind, which LDAP servers let through.
    server.login("bob", "").await.assert_error(403, "M_FORBIDDEN");
    assert!(!exists(&server, "bob"));
    server.login("zed", "anything").await.assert_error(403, "M_FORBIDDEN");
    assert!(!exists(&server, "zed"));
    // Filter metacharacters in the name match nothing but themselves: unescaped, `a*` would
    // find Alice alone and her password would bind.
    for name in ["a*", "*lice", "al*", "*", "alice)(uid=*", "*)(|(uid=*", "alice\\2a"] {
        let reply = server.login(name, "alice-directory-pw").await;
        assert_eq!(reply.status, 403, "{name}: {}", reply.body);
    }
    let accounts = server.running().services.db().account_user_ids().expect("accounts");
    assert!(accounts.is_empty(), "nothing created: {accounts:?}");
    // Local accounts the directory doesn't know still log in (ldap.local_fallback).
    server.create_user("root", "local-root-pw", true).await;
    server.login("root", "local-root-pw").await.ok();
    server.login("root", "wrong").await.assert_error(403, "M_FORBIDDEN");
}

#[tokio::test]
async fn a_disabled_directory_account_can_no_longer_log_in() {
    let directory = people().await;
    let server = TestServer::start_with(|c| use_directory(c, &directory)).await;
    server.login("carol", "carol-directory-pw").await.ok();
    directory.set("carol", "employeeType", "disabled").await;
    server
        .login("carol", "carol-directory-pw")
        .await
        .assert_error(403, "M_FORBIDDEN");
    // Without the fallback, local passwords don't count either.
    let strict = TestServer::start_with(|c| {
        use_directory(c, &directory);
        c.ldap.local_fallback = false;
    })
    .await;
    strict.create_user("root", "local-root-pw", true).await;
    strict
        .login("root", "local-root-pw")
        .await
        .assert_error(403, "M_FORBIDDEN");
}

#[tokio::test]
async fn start_tls_checks_the_directorys_certificate() {
    let ca = TestCa::new();
    let directory = TestDirectory::start(Some(&ca)).await;
    directory.add_person("dana", "Dana Dee", "dana-directory-pw").await;
    let ca_file = directory.ca_file.clone();
    let server = TestServer::start_with(|c| {
        use_directory(c, &directory);
        c.ldap.start_tls = true;
        c.ldap.ca_file = ca_file;
    })
    .await;
    server.login("dana", "dana-directory-pw").await.ok();
    // Without the CA the certificate is not trusted: no login, and no downgrade to plain.
    let untrusting = TestServer::start_with(|c| {
        use_directory(c, &directory);
        c.ldap.start_tls = true;
    })
    .await;
    let refused = untrusting.login("dana", "dana-directory-pw").await;
    assert_eq!(refused.status, 500, "{}", refused.body);
    assert!(!exists(&untrusting, "dana"));
}

#[tokio::test]
async fn a_directory_that_is_down_fails_logins_and_the_server_keeps_serving() {
    let mut directory = people().await;
    let server = TestServer::start_with(|c| {
        use_directory(c, &directory);
        c.ldap.timeout_secs = 2;
    })
    .await;
    let bob = server.login("bob", "bob-directory-pw").await.ok();
    directory.stop();
    let down = server.login("bob", "bob-directory-pw").await;
    assert_eq!(down.status, 500, "{}", down.body);
    assert_eq!(down.errcode(), Some("M_UNKNOWN"));
    let token = bob["access_token"].as_str().unwrap_or_default();
    server.get("/_matrix/client/v3/account/whoami", Some(token)).await.ok();
}
