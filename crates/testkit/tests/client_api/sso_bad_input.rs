//! Single sign-on refuses what a provider (or someone posing as one) must not get through:
//! ID tokens for another client, expired, signed with a key not in the provider's key set,
//! carrying another login's nonce or another issuer; a state used twice; a login finished in
//! a browser that didn't start it; script in `redirectUrl`. Nothing is created when refused.
//!
//! A real provider can't be made to send bad tokens, so the provider here is a small one in
//! the test (discovery, keys, token endpoint) that signs whatever the test asks, with a test
//! RSA key. The happy path against a real provider (panva/oidc-provider) and a real browser is
//! tests/oidc/run.sh.

use std::sync::{Arc, Mutex};

use accord_core::config::OidcProviderConfig;
use accord_testkit::TestServer;
use axum::{Json, Router, extract::State, routing::get, routing::post};
use openidconnect::{
    Audience, EmptyAdditionalClaims, IssuerUrl, JsonWebKeyId, Nonce, PrivateSigningKey, StandardClaims,
    SubjectIdentifier,
    core::{CoreIdToken, CoreIdTokenClaims, CoreJwsSigningAlgorithm, CoreRsaPrivateSigningKey},
};
use ruma::UserId;
use serde_json::{Value, json};

const SIGNING_KEY: &str = include_str!("fixtures/idp-signing-key.pem");
const OTHER_KEY: &str = include_str!("fixtures/idp-other-key.pem");

/// What the next token answer gets wrong.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Flaw {
    None,
    Audience,
    Expired,
    ForeignKey,
    Nonce,
    Issuer,
}

#[derive(Clone)]
struct Idp {
    issuer: String,
    /// The nonce of the login in progress (read from Accord's redirect).
    nonce: Arc<Mutex<String>>,
    flaw: Arc<Mutex<Flaw>>,
    /// Whether the provider rotated to its second key (its key set lists only the current).
    rotated: Arc<Mutex<bool>>,
}

impl Idp {
    fn current_key(&self) -> &'static str {
        if *self.rotated.lock().expect("lock") {
            OTHER_KEY
        } else {
            SIGNING_KEY
        }
    }

    fn retired_key(&self) -> &'static str {
        if *self.rotated.lock().expect("lock") {
            SIGNING_KEY
        } else {
            OTHER_KEY
        }
    }
}

fn key(pem: &str) -> CoreRsaPrivateSigningKey {
    CoreRsaPrivateSigningKey::from_pem(pem, Some(JsonWebKeyId::new("test-key".to_owned()))).expect("test key")
}

async fn discovery(State(idp): State<Idp>) -> Json<Value> {
    let base = &idp.issuer;
    Json(json!({
        "issuer": base,
        "authorization_endpoint": format!("{base}/authorize"),
        "token_endpoint": format!("{base}/token"),
        "jwks_uri": format!("{base}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
    }))
}

async fn jwks(State(idp): State<Idp>) -> Json<Value> {
    Json(json!({ "keys": [key(idp.current_key()).as_verification_key()] }))
}

async fn token(State(idp): State<Idp>) -> Json<Value> {
    let flaw = *idp.flaw.lock().expect("lock");
    let nonce = if flaw == Flaw::Nonce {
        "another-login".to_owned()
    } else {
        idp.nonce.lock().expect("lock").clone()
    };
    let issuer = if flaw == Flaw::Issuer {
        "http://127.0.0.1:1".to_owned()
    } else {
        idp.issuer.clone()
    };
    let audience = if flaw == Flaw::Audience {
        "someone-else"
    } else {
        "accord"
    };
    let now = chrono::Utc::now();
    let (issued, expires) = if flaw == Flaw::Expired {
        (now - chrono::Duration::hours(2), now - chrono::Duration::hours(1))
    } else {
        (now, now + chrono::Duration::minutes(5))
    };
    let mut standard = StandardClaims::new(SubjectIdentifier::new("subject-1".to_owned()));
    standard = standard.set_preferred_username(Some(openidconnect::EndUserUsername::new("erin".to_owned())));
    let claims = CoreIdTokenClaims::new(
        IssuerUrl::new(issuer).expect("issuer"),
        vec![Audience::new(audience.to_owned())],
        expires,
        issued,
        standard,
        EmptyAdditionalClaims {},
    )
    .set_nonce(Some(Nonce::new(nonce)));
    let signer = if flaw == Flaw::ForeignKey {
        key(idp.retired_key())
    } else {
        key(idp.current_key())
    };
    let id_token = CoreIdToken::new(
        claims,
        &signer,
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        None,
        None,
    )
    .expect("sign");
    Json(json!({
        "access_token": "idp-access-token",
        "token_type": "Bearer",
        "expires_in": 300,
        "id_token": id_token.to_string(),
    }))
}

async fn start_idp() -> Idp {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let issuer = format!("http://{}", listener.local_addr().expect("addr"));
    let idp = Idp {
        issuer,
        nonce: Arc::default(),
        flaw: Arc::new(Mutex::new(Flaw::None)),
        rotated: Arc::default(),
    };
    let app = Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/jwks", get(jwks))
        .route("/token", post(token))
        .with_state(idp.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    idp
}

async fn accord_with(idp: &Idp) -> TestServer {
    let issuer = idp.issuer.clone();
    TestServer::start_with(move |c| {
        c.client_api.public_baseurl = Some("http://127.0.0.1".to_owned());
        c.oidc.providers = vec![OidcProviderConfig {
            id: "test".to_owned(),
            name: "Test IdP".to_owned(),
            issuer,
            client_id: "accord".to_owned(),
            client_secret: Some("secret".to_owned()),
            client_secret_file: None,
            scopes: vec!["openid".to_owned()],
            localpart_claim: "preferred_username".to_owned(),
            displayname_claim: "name".to_owned(),
            ca_file: None,
            allow_existing_users: false,
        }];
    })
    .await
}

/// A login started at Accord: the state, the browser cookie, and (told to the provider) the nonce.
async fn start_login(server: &TestServer, idp: &Idp) -> (String, String) {
    // Not following the redirect: the test reads where Accord sends the browser.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let reply = http
        .get(format!(
            "{}/_matrix/client/v3/login/sso/redirect/test?redirectUrl=https%3A%2F%2Fapp.example%2Fdone",
            server.base_url
        ))
        .send()
        .await
        .expect("redirect");
    assert_eq!(reply.status().as_u16(), 302);
    let header = |name: &str| {
        reply
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let location = url::Url::parse(&header("location")).expect("location");
    assert!(
        location.as_str().starts_with(&format!("{}/authorize", idp.issuer)),
        "{location}"
    );
    let param = |name: &str| {
        location
            .query_pairs()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
            .unwrap_or_default()
    };
    assert_eq!(param("code_challenge_method"), "S256");
    assert!(!param("code_challenge").is_empty());
    *idp.nonce.lock().expect("lock") = param("nonce");
    let cookie = header("set-cookie").split(';').next().unwrap_or_default().to_owned();
    assert!(cookie.starts_with("accord_sso_session="), "{cookie}");
    (param("state"), cookie)
}

async fn callback(server: &TestServer, state: &str, cookie: Option<&str>) -> (u16, String) {
    let url = format!(
        "{}/_synapse/client/oidc/callback?code=the-code&state={state}",
        server.base_url
    );
    let mut request = reqwest::Client::new().get(url);
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    let response = request.send().await.expect("callback");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

fn erin_exists(server: &TestServer) -> bool {
    let erin = UserId::parse("@erin:localhost").expect("user id");
    server
        .running()
        .services
        .db()
        .get_account(&erin)
        .expect("read")
        .is_some()
}

#[tokio::test]
async fn flawed_id_tokens_are_refused_and_create_nothing() {
    let idp = start_idp().await;
    let server = accord_with(&idp).await;
    for flaw in [
        Flaw::Audience,
        Flaw::Expired,
        Flaw::ForeignKey,
        Flaw::Nonce,
        Flaw::Issuer,
    ] {
        *idp.flaw.lock().expect("lock") = flaw;
        let (state, cookie) = start_login(&server, &idp).await;
        let (status, page) = callback(&server, &state, Some(&cookie)).await;
        assert_eq!(status, 403, "{flaw:?}: {page}");
        assert!(page.contains("Login failed"), "{flaw:?}: {page}");
        assert!(!erin_exists(&server), "{flaw:?} created an account");
    }
    // The same provider with a sound token logs Erin in.
    *idp.flaw.lock().expect("lock") = Flaw::None;
    let (state, cookie) = start_login(&server, &idp).await;
    let (status, page) = callback(&server, &state, Some(&cookie)).await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("@erin:localhost") && page.contains("app.example"),
        "{page}"
    );
    assert!(erin_exists(&server));
    // A replayed state (the provider's answer used twice) is refused.
    let (status, _) = callback(&server, &state, Some(&cookie)).await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn a_login_finished_in_another_browser_is_refused() {
    let idp = start_idp().await;
    let server = accord_with(&idp).await;
    let (state, _) = start_login(&server, &idp).await;
    let (status, page) = callback(&server, &state, None).await;
    assert_eq!(status, 403, "{page}");
    assert!(page.contains("another browser"), "{page}");
    let (state, _) = start_login(&server, &idp).await;
    let (status, _) = callback(&server, &state, Some("accord_sso_session=someone-elses")).await;
    assert_eq!(status, 403);
    assert!(!erin_exists(&server));
}

#[tokio::test]
async fn login_tokens_work_once_and_bad_redirects_and_providers_are_refused() {
    let idp = start_idp().await;
    let server = accord_with(&idp).await;
    // A login token nobody redeemed, long expired: the first login started sweeps it away.
    let db = server.running().services.db().clone();
    let stale = accord_db::LoginTokenRecord {
        user_id: ruma::OwnedUserId::try_from("@ghost:localhost").expect("user id"),
        expires_ts: 1,
    };
    let mut batch = accord_storage::WriteBatch::new();
    db.put_login_token(&mut batch, b"stale-token-hash", &stale);
    db.write(batch).expect("write");
    let (state, cookie) = start_login(&server, &idp).await;
    assert!(
        db.login_token(b"stale-token-hash").expect("read").is_none(),
        "expired login tokens are swept"
    );
    let (_, page) = callback(&server, &state, Some(&cookie)).await;
    let token = page
        .split("loginToken=")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the page links to the client with the token")
        .to_owned();
    let login = |token: String| {
        let server = &server;
        async move {
            server
                .post(
                    "/_matrix/client/v3/login",
                    None,
                    json!({ "type": "m.login.token", "token": token }),
                )
                .await
        }
    };
    assert_eq!(login(token.clone()).await.ok()["user_id"], json!("@erin:localhost"));
    login(token).await.assert_error(403, "M_FORBIDDEN");
    login("made-up".to_owned()).await.assert_error(403, "M_FORBIDDEN");

    for bad in ["javascript%3Aalert(1)", "data%3Atext%2Fhtml%2Cx", "not-a-url"] {
        let reply = server
            .get(
                &format!("/_matrix/client/v3/login/sso/redirect/test?redirectUrl={bad}"),
                None,
            )
            .await;
        reply.assert_error(400, "M_INVALID_PARAM");
    }
    server
        .get("/_matrix/client/v3/login/sso/redirect/test", None)
        .await
        .assert_error(400, "M_MISSING_PARAM");
    server
        .get(
            "/_matrix/client/v3/login/sso/redirect/nobody?redirectUrl=https%3A%2F%2Fa.example",
            None,
        )
        .await
        .assert_error(404, "M_NOT_FOUND");
}

#[tokio::test]
async fn a_provider_that_rotated_its_signing_key_is_read_again() {
    let idp = start_idp().await;
    let server = accord_with(&idp).await;
    let (state, cookie) = start_login(&server, &idp).await;
    // Accord has read the key set; the provider now signs with a new key.
    *idp.rotated.lock().expect("lock") = true;
    tokio::time::sleep(std::time::Duration::from_millis(5_200)).await;
    let (status, page) = callback(&server, &state, Some(&cookie)).await;
    assert_eq!(status, 200, "the new key is fetched and the token accepted: {page}");
    // A token signed with the retired key is refused, even just after the key set was read.
    *idp.flaw.lock().expect("lock") = Flaw::ForeignKey;
    let (state, cookie) = start_login(&server, &idp).await;
    let (status, _) = callback(&server, &state, Some(&cookie)).await;
    assert_eq!(status, 403);
}
