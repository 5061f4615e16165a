//! The OAuth 2.0 API with Accord as the authorization server, driven over HTTP as a client
//! and a person's browser would: registration, the authorization code grant with PKCE through
//! Accord's login and consent pages, refresh, revocation, the device grant, and the refusals
//! (open redirects, wrong verifiers, reused codes, other browsers).

use accord_testkit::{TestServer, TestUser};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const NATIVE_REDIRECT: &str = "http://127.0.0.1/callback";
const VERIFIER: &str = "a-pkce-verifier-of-at-least-forty-three-characters-long";

async fn oauth_server() -> TestServer {
    TestServer::start_with(|c| {
        c.oauth.enabled = true;
        c.client_api.public_baseurl = Some("http://127.0.0.1".to_owned());
    })
    .await
}

/// A browser: cookies kept, redirects not followed (the test reads them).
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

async fn register(server: &TestServer, metadata: Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}/_accord/oauth2/register", server.base_url))
        .json(&metadata)
        .send()
        .await
        .expect("register")
}

fn native_client() -> Value {
    json!({
        "client_name": "Test App",
        "client_uri": "https://app.example.org/",
        "application_type": "native",
        "redirect_uris": [NATIVE_REDIRECT, "org.example.app:/callback"],
        "grant_types": ["authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:device_code"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
    })
}

async fn client_id(server: &TestServer) -> String {
    let reply = register(server, native_client()).await;
    assert_eq!(reply.status(), 201);
    let body: Value = reply.json().await.expect("json");
    body["client_id"].as_str().expect("client_id").to_owned()
}

fn authorize_url(server: &TestServer, client_id: &str, redirect: &str, device: &str) -> String {
    let scope =
        format!("urn:matrix:org.matrix.msc2967.client:api:* urn:matrix:org.matrix.msc2967.client:device:{device}");
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", redirect)
        .append_pair("scope", &scope)
        .append_pair("state", "the-state")
        .append_pair("code_challenge", &challenge(VERIFIER))
        .append_pair("code_challenge_method", "S256")
        .finish();
    format!("{}/_accord/oauth2/authorize?{query}", server.base_url)
}

/// Opens the authorization URL in `browser`; the login page's HTML.
async fn login_page(browser: &reqwest::Client, url: String) -> String {
    let page = browser.get(url).send().await.expect("authorize");
    assert_eq!(page.status(), 200);
    page.text().await.unwrap_or_default()
}

/// The hidden `request` field of a page.
fn request_id(page: &str) -> String {
    page.split("name=\"request\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the page has a request id")
        .to_owned()
}

/// Posts Alice's `password` in the login form of `page` from `client`.
async fn post_login(client: &reqwest::Client, server: &TestServer, page: &str, password: &str) -> reqwest::Response {
    client
        .post(format!("{}/_accord/oauth2/authorize/login", server.base_url))
        .form(&[
            ("request", request_id(page).as_str()),
            ("username", "alice"),
            ("password", password),
        ])
        .send()
        .await
        .expect("login form")
}

/// Logs in on the login page and answers the consent page; returns the redirect.
async fn log_in_and_decide(
    server: &TestServer,
    browser: &reqwest::Client,
    page: &str,
    password: &str,
    decision: &str,
) -> reqwest::Response {
    let consent = post_login(browser, server, page, password).await;
    assert_eq!(consent.status(), 200);
    let consent = consent.text().await.unwrap_or_default();
    assert!(
        consent.contains("Allow access?") && consent.contains("Test App"),
        "{consent}"
    );
    browser
        .post(format!("{}/_accord/oauth2/authorize/consent", server.base_url))
        .form(&[("request", request_id(&consent).as_str()), ("decision", decision)])
        .send()
        .await
        .expect("consent form")
}

fn param(location: &str, name: &str) -> Option<String> {
    url::Url::parse(location)
        .ok()?
        .query_pairs()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

async fn token(server: &TestServer, form: &[(&str, &str)]) -> (u16, Value) {
    let reply = reqwest::Client::new()
        .post(format!("{}/_accord/oauth2/token", server.base_url))
        .form(form)
        .send()
        .await
        .expect("token");
    (reply.status().as_u16(), reply.json().await.unwrap_or(Value::Null))
}

async fn whoami(server: &TestServer, token: &str) -> (u16, Value) {
    let reply = server.get("/_matrix/client/v3/account/whoami", Some(token)).await;
    (reply.status, reply.body)
}

async fn alice(server: &TestServer) -> TestUser {
    server.register("alice", "pw-alice-1").await
}

#[tokio::test]
async fn metadata_is_discoverable_and_off_by_default() {
    let server = oauth_server().await;
    let metadata = server
        .get("/_matrix/client/unstable/org.matrix.msc2965/auth_metadata", None)
        .await
        .ok();
    assert_eq!(metadata["issuer"], json!("http://127.0.0.1/"));
    assert_eq!(
        metadata["token_endpoint"],
        json!("http://127.0.0.1/_accord/oauth2/token")
    );
    assert_eq!(metadata["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(metadata["response_modes_supported"], json!(["query", "fragment"]));
    assert_eq!(
        server.get("/_matrix/client/v1/auth_metadata", None).await.ok(),
        metadata
    );
    let off = TestServer::start().await;
    off.get("/_matrix/client/v1/auth_metadata", None)
        .await
        .assert_error(404, "M_UNRECOGNIZED");
}

#[tokio::test]
async fn the_code_grant_with_pkce_logs_in_refreshes_and_revokes() {
    let server = oauth_server().await;
    alice(&server).await;
    let client_id = client_id(&server).await;
    let browser = browser();
    // A native app listens on a port of the moment: any port of its loopback redirect.
    let redirect = "http://127.0.0.1:48123/callback";
    let page = browser
        .get(authorize_url(&server, &client_id, redirect, "OAUTHDEV01"))
        .send()
        .await
        .expect("authorize");
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap_or_default();
    assert!(page.contains("Log in") && page.contains("Test App"), "{page}");

    // A wrong password shows the page again, with the reason.
    let wrong = post_login(&browser, &server, &page, "nope").await;
    assert_eq!(wrong.status(), 403);
    assert!(
        wrong
            .text()
            .await
            .unwrap_or_default()
            .contains("Invalid username or password")
    );

    let answer = log_in_and_decide(&server, &browser, &page, "pw-alice-1", "allow").await;
    assert_eq!(answer.status(), 303);
    let location = answer.headers()["location"].to_str().unwrap_or_default().to_owned();
    assert!(location.starts_with(redirect), "{location}");
    assert_eq!(param(&location, "state").as_deref(), Some("the-state"));
    let code = param(&location, "code").expect("code");

    // The verifier must match the challenge; a failed exchange uses the code up.
    let (status, body) = token(
        &server,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", redirect),
            ("client_id", &client_id),
            (
                "code_verifier",
                "x-wrong-verifier-of-enough-length-to-be-taken-seriously",
            ),
        ],
    )
    .await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
    let (status, body) = token(
        &server,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", redirect),
            ("client_id", &client_id),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "used code: {body}"
    );

    // Again, properly this time.
    let page = login_page(&browser, authorize_url(&server, &client_id, redirect, "OAUTHDEV01")).await;
    let answer = log_in_and_decide(&server, &browser, &page, "pw-alice-1", "allow").await;
    let location = answer.headers()["location"].to_str().unwrap_or_default().to_owned();
    let code = param(&location, "code").expect("code");
    let (status, tokens) = token(
        &server,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", redirect),
            ("client_id", &client_id),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["token_type"], json!("Bearer"));
    assert!(
        tokens["expires_in"].as_u64().is_some_and(|s| s > 0 && s <= 300),
        "{tokens}"
    );
    let access = tokens["access_token"].as_str().unwrap_or_default().to_owned();
    let (_, me) = whoami(&server, &access).await;
    assert_eq!(me, json!({ "user_id": "@alice:localhost", "device_id": "OAUTHDEV01" }));
    let devices = server.get("/_matrix/client/v3/devices", Some(&access)).await.ok();
    let named = devices["devices"].as_array().is_some_and(|all| {
        all.iter()
            .any(|d| d["device_id"] == "OAUTHDEV01" && d["display_name"] == "Test App")
    });
    assert!(named, "{devices}");

    // Refresh: new tokens, the old access token stops working.
    let refresh = tokens["refresh_token"].as_str().unwrap_or_default().to_owned();
    let (status, renewed) = token(
        &server,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("client_id", &client_id),
        ],
    )
    .await;
    assert_eq!(status, 200, "{renewed}");
    let new_access = renewed["access_token"].as_str().unwrap_or_default().to_owned();
    assert_eq!(whoami(&server, &new_access).await.0, 200);
    assert_eq!(whoami(&server, &access).await.0, 401);
    let (status, body) = token(
        &server,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("client_id", &client_id),
        ],
    )
    .await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");

    // Revocation ends the session, device and all; unknown tokens are answered the same.
    let revoke = |token: String| {
        let server = &server;
        async move {
            reqwest::Client::new()
                .post(format!("{}/_accord/oauth2/revoke", server.base_url))
                .form(&[("token", token.as_str()), ("token_type_hint", "access_token")])
                .send()
                .await
                .expect("revoke")
                .status()
                .as_u16()
        }
    };
    assert_eq!(revoke(new_access.clone()).await, 200);
    assert_eq!(whoami(&server, &new_access).await.0, 401);
    assert_eq!(revoke("never-issued".to_owned()).await, 200);
}

#[tokio::test]
async fn unregistered_redirects_are_never_followed_and_errors_go_to_registered_ones() {
    let server = oauth_server().await;
    alice(&server).await;
    let client_id = client_id(&server).await;
    let browser = browser();
    for evil in [
        "https://evil.example/steal",
        "http://127.0.0.1:9/elsewhere",
        "org.example.app://host/callback",
    ] {
        let reply = browser
            .get(authorize_url(&server, &client_id, evil, "DEV"))
            .send()
            .await
            .expect("authorize");
        assert_eq!(reply.status(), 400, "{evil}");
        assert!(reply.headers().get("location").is_none(), "{evil} was redirected to");
    }
    let unknown = browser
        .get(authorize_url(&server, "no-such-client", NATIVE_REDIRECT, "DEV"))
        .send()
        .await
        .expect("authorize");
    assert_eq!(unknown.status(), 400);
    // A registered redirect gets the client's errors: no PKCE here.
    let url = authorize_url(&server, &client_id, NATIVE_REDIRECT, "DEV").replace("&code_challenge_method=S256", "");
    let reply = browser.get(url).send().await.expect("authorize");
    assert_eq!(reply.status(), 302);
    let location = reply.headers()["location"].to_str().unwrap_or_default().to_owned();
    assert_eq!(
        param(&location, "error").as_deref(),
        Some("invalid_request"),
        "{location}"
    );
    assert_eq!(param(&location, "state").as_deref(), Some("the-state"));
    // No API scope: invalid_scope.
    let url = authorize_url(&server, &client_id, NATIVE_REDIRECT, "DEV")
        .replace("scope=urn", "scope=openid+urn")
        .replace("api%3A*", "x");
    let reply = browser.get(url).send().await.expect("authorize");
    let location = reply.headers()["location"].to_str().unwrap_or_default().to_owned();
    assert_eq!(
        param(&location, "error").as_deref(),
        Some("invalid_scope"),
        "{location}"
    );
    // Denying answers access_denied with the state.
    let page = login_page(&browser, authorize_url(&server, &client_id, NATIVE_REDIRECT, "DEV")).await;
    let answer = log_in_and_decide(&server, &browser, &page, "pw-alice-1", "deny").await;
    let location = answer.headers()["location"].to_str().unwrap_or_default().to_owned();
    assert_eq!(param(&location, "error").as_deref(), Some("access_denied"));
    assert!(param(&location, "code").is_none());
    // The login form from another browser (no cookie) is refused.
    let page = login_page(&browser, authorize_url(&server, &client_id, NATIVE_REDIRECT, "DEV")).await;
    let stranger = post_login(&reqwest::Client::new(), &server, &page, "pw-alice-1").await;
    assert_eq!(stranger.status(), 403);
}

#[tokio::test]
async fn registration_follows_the_specs_rules() {
    let server = oauth_server().await;
    let mut web = native_client();
    web["application_type"] = json!("web");
    web["redirect_uris"] = json!(["https://app.example.org/cb", "https://sub.app.example.org/cb"]);
    assert_eq!(register(&server, web).await.status(), 201);
    let cases = [
        (
            json!({ "client_uri": "http://app.example.org/", "redirect_uris": ["https://app.example.org/cb"] }),
            "invalid_client_metadata",
        ),
        (
            json!({ "redirect_uris": ["https://app.example.org/cb"] }),
            "invalid_client_metadata",
        ),
        (
            json!({ "client_uri": "https://app.example.org/", "redirect_uris": ["https://evil.example/cb"] }),
            "invalid_redirect_uri",
        ),
        (
            json!({ "client_uri": "https://app.example.org/", "redirect_uris": ["https://app.example.org/cb#frag"] }),
            "invalid_redirect_uri",
        ),
        (
            json!({ "client_uri": "https://app.example.org/", "application_type": "native", "redirect_uris": ["http://localhost:8080/cb"] }),
            "invalid_redirect_uri",
        ),
        (
            json!({ "client_uri": "https://app.example.org/", "application_type": "native", "redirect_uris": ["com.evil:/cb"] }),
            "invalid_redirect_uri",
        ),
        (
            json!({ "client_uri": "https://app.example.org/", "redirect_uris": ["https://app.example.org/cb"], "token_endpoint_auth_method": "client_secret_basic" }),
            "invalid_client_metadata",
        ),
        (
            json!({ "client_uri": "https://app.example.org/", "redirect_uris": ["https://app.example.org/cb"], "logo_uri": "https://cdn.evil.example/logo.png" }),
            "invalid_client_metadata",
        ),
    ];
    for (metadata, expected) in cases {
        let reply = register(&server, metadata.clone()).await;
        assert_eq!(reply.status(), 400, "{metadata}");
        let body: Value = reply.json().await.unwrap_or(Value::Null);
        assert_eq!(body["error"], json!(expected), "{metadata}: {body}");
    }
}

#[tokio::test]
async fn the_device_grant_waits_for_the_person_and_then_logs_in() {
    let server = oauth_server().await;
    alice(&server).await;
    let client_id = client_id(&server).await;
    let http = reqwest::Client::new();
    let scope = "urn:matrix:client:api:* urn:matrix:client:device:TVDEVICE";
    let started: Value = http
        .post(format!("{}/_accord/oauth2/device", server.base_url))
        .form(&[("client_id", client_id.as_str()), ("scope", scope)])
        .send()
        .await
        .expect("device")
        .json()
        .await
        .expect("json");
    let device_code = started["device_code"].as_str().unwrap_or_default().to_owned();
    let user_code = started["user_code"].as_str().unwrap_or_default().to_owned();
    assert_eq!(user_code.len(), 9, "{started}");
    let form = [
        ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
        ("device_code", device_code.as_str()),
        ("client_id", client_id.as_str()),
    ];
    let poll = || token(&server, &form);
    let (_, first) = poll().await;
    assert_eq!(first["error"], json!("authorization_pending"), "{first}");
    let (_, hurried) = poll().await;
    assert_eq!(hurried["error"], json!("slow_down"), "{hurried}");

    // The person, on another device: the code, then login and consent.
    let browser = browser();
    let page = browser
        .get(format!(
            "{}/_accord/oauth2/device/verify?user_code={}",
            server.base_url,
            user_code.to_lowercase()
        ))
        .send()
        .await
        .expect("verify");
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap_or_default();
    let done = log_in_and_decide(&server, &browser, &page, "pw-alice-1", "allow").await;
    assert!(done.text().await.unwrap_or_default().contains("Device approved"));
    let (status, tokens) = poll().await;
    assert_eq!(status, 200, "{tokens}");
    let access = tokens["access_token"].as_str().unwrap_or_default();
    assert_eq!(whoami(&server, access).await.1["device_id"], json!("TVDEVICE"));
    let (_, again) = poll().await;
    assert_eq!(
        again["error"],
        json!("invalid_grant"),
        "a device code works once: {again}"
    );
    let unknown = browser
        .get(format!(
            "{}/_accord/oauth2/device/verify?user_code=BCDF-GHJK",
            server.base_url
        ))
        .send()
        .await
        .expect("verify");
    assert_eq!(unknown.status(), 404);
}

#[tokio::test]
async fn the_account_page_lists_devices_and_signs_one_out_after_confirmation() {
    let server = oauth_server().await;
    let alice = alice(&server).await;
    let phone = server.login("alice", "pw-alice-1").await.ok();
    let phone_device = phone["device_id"].as_str().unwrap_or_default().to_owned();
    let phone_token = phone["access_token"].as_str().unwrap_or_default().to_owned();
    let metadata = server.get("/_matrix/client/v1/auth_metadata", None).await.ok();
    assert_eq!(
        metadata["account_management_uri"],
        json!("http://127.0.0.1/_accord/account")
    );
    assert!(
        metadata["account_management_actions_supported"]
            .as_array()
            .is_some_and(|all| all.iter().any(|a| a == "org.matrix.device_delete"))
    );

    let browser = browser();
    let account = |query: String| {
        let (browser, base) = (&browser, server.base_url.clone());
        async move {
            let reply = browser
                .get(format!("{base}/_accord/account{query}"))
                .send()
                .await
                .expect("account");
            (reply.status().as_u16(), reply.text().await.unwrap_or_default())
        }
    };
    let delete_query = format!("?action=org.matrix.device_delete&device_id={phone_device}");
    let (_, first) = account(delete_query.clone()).await;
    assert!(first.contains("Log in to manage your Matrix account"), "{first}");
    // Signing out without being logged in here is refused.
    let stranger = browser
        .post(format!("{}/_accord/account/sign-out", server.base_url))
        .form(&[("device_id", phone_device.as_str())])
        .send()
        .await
        .expect("sign-out");
    assert_eq!(stranger.status(), 403);
    // Log in; the page returns to the asked action: the confirmation.
    let login = browser
        .post(format!("{}/_accord/account/login", server.base_url))
        .form(&[
            ("username", "alice"),
            ("password", "pw-alice-1"),
            ("action", "org.matrix.device_delete"),
            ("device_id", phone_device.as_str()),
        ])
        .send()
        .await
        .expect("login");
    assert_eq!(login.status(), 303);
    let (_, confirm) = account(delete_query).await;
    assert!(
        confirm.contains("Sign out this device?") && confirm.contains(&phone_device),
        "{confirm}"
    );
    assert_eq!(
        whoami(&server, &phone_token).await.0,
        200,
        "nothing happens before the confirmation"
    );
    let (_, overview) = account(String::new()).await;
    assert!(
        overview.contains(&alice.device_id) && overview.contains(&phone_device),
        "{overview}"
    );
    let (status, _) = account("?action=org.matrix.device_view&device_id=NOSUCHDEVICE".to_owned()).await;
    assert_eq!(status, 404);

    let done = browser
        .post(format!("{}/_accord/account/sign-out", server.base_url))
        .form(&[("device_id", phone_device.as_str())])
        .send()
        .await
        .expect("sign-out");
    assert_eq!(done.status(), 200);
    assert_eq!(whoami(&server, &phone_token).await.0, 401);
    assert_eq!(whoami(&server, &alice.token).await.0, 200, "other devices stay");
}
