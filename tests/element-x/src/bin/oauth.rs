//! Element X's SDK logs in to Accord through the OAuth 2.0 API: matrix-rust-sdk registers a
//! client (dynamic registration), builds the authorization URL (code grant, PKCE S256, its
//! device in the scope), and finishes the login from the redirect; the person's part on
//! Accord's login and consent pages is played by a plain HTTP client with a cookie jar, as a
//! browser would. Then the SDK refreshes its token and uses the API, and the session is
//! revoked.
//!
//!   accord-oauth-test <homeserver URL> <username> <password>

use anyhow::{Context, Result, bail, ensure};
use matrix_sdk::{
    Client,
    authentication::oauth::{
        ClientRegistrationData,
        registration::{ApplicationType, ClientMetadata, Localized, OAuthGrantType},
    },
    ruma::{OwnedDeviceId, serde::Raw},
    utils::UrlOrQuery,
};
use url::Url;

/// The hidden `request` field of one of Accord's pages.
fn request_id(page: &str) -> Result<String> {
    page.split("name=\"request\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .map(str::to_owned)
        .context("the page has no request id")
}

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let mut args = std::env::args().skip(1);
    let (Some(homeserver), Some(username), Some(password)) = (args.next(), args.next(), args.next()) else {
        bail!("usage: accord-oauth-test <homeserver URL> <username> <password>");
    };

    let client = Client::builder()
        .homeserver_url(&homeserver)
        .handle_refresh_tokens()
        .build()
        .await?;
    let oauth = client.oauth();
    let metadata = oauth.server_metadata().await.context("auth metadata")?;
    println!("oauth: the server's issuer is {}", metadata.issuer);

    let redirect = Url::parse("http://127.0.0.1/callback")?;
    let mut client_metadata = ClientMetadata::new(
        ApplicationType::Native,
        vec![OAuthGrantType::AuthorizationCode {
            redirect_uris: vec![redirect.clone()],
        }],
        Localized::new(Url::parse("https://element-x.example.org/")?, []),
    );
    client_metadata.client_name = Some(Localized::new("Element X test".to_owned(), []));
    let registration = ClientRegistrationData::new(Raw::new(&client_metadata)?);
    let device_id = OwnedDeviceId::from("ELEMENTXTEST");
    let authorization = oauth
        .login(redirect.clone(), Some(device_id.clone()), Some(registration), None)
        .build()
        .await
        .context("registration and the authorization URL")?;
    println!(
        "oauth: registered as {:?}",
        oauth.client_id().map(|id| id.as_str().to_owned())
    );

    // The person: Accord's login page, then its consent page.
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let login_page = browser.get(authorization.url.clone()).send().await?;
    ensure!(login_page.status() == 200, "login page: {}", login_page.status());
    let login_page = login_page.text().await?;
    ensure!(login_page.contains("Element X test"), "the login page names the app");
    let consent = browser
        .post(format!("{homeserver}/_accord/oauth2/authorize/login"))
        .form(&[
            ("request", request_id(&login_page)?.as_str()),
            ("username", username.as_str()),
            ("password", password.as_str()),
        ])
        .send()
        .await?
        .text()
        .await?;
    let answer = browser
        .post(format!("{homeserver}/_accord/oauth2/authorize/consent"))
        .form(&[("request", request_id(&consent)?.as_str()), ("decision", "allow")])
        .send()
        .await?;
    let location = answer
        .headers()
        .get("location")
        .and_then(|value| value.to_str().ok())
        .context("the consent answer redirects to the app")?
        .to_owned();
    ensure!(location.starts_with(redirect.as_str()), "redirected to {location}");

    oauth
        .finish_login(UrlOrQuery::Url(Url::parse(&location)?))
        .await
        .context("finish_login (code exchange with the PKCE verifier)")?;
    let me = client.whoami().await?;
    ensure!(me.user_id.localpart() == username, "logged in as {}", me.user_id);
    ensure!(
        client.device_id() == Some(&*device_id),
        "device {:?}",
        client.device_id()
    );
    println!("oauth: logged in as {} on device {device_id}", me.user_id);

    let before = client.access_token().context("an access token")?;
    oauth.refresh_access_token().await.context("refresh")?;
    let after = client.access_token().context("an access token after refresh")?;
    ensure!(before != after, "the refresh gave a new access token");
    let me = client.whoami().await.context("the API with the refreshed token")?;
    println!("oauth: refreshed; whoami still {}", me.user_id);

    // The SDK's own logout (`oauth.logout()`) refuses a revocation endpoint that isn't https
    // (the oauth2 crate enforces RFC 7009's TLS rule client-side), and this test server is
    // plain http on loopback; so the app's revocation request is made here, as the SDK makes it.
    let revoked = reqwest::Client::new()
        .post(metadata.revocation_endpoint.clone())
        .form(&[
            ("token", after.as_str()),
            ("token_type_hint", "access_token"),
            ("client_id", oauth.client_id().map(|id| id.as_str()).unwrap_or_default()),
        ])
        .send()
        .await?;
    ensure!(revoked.status() == 200, "revocation: {}", revoked.status());
    let gone = reqwest::Client::new()
        .get(format!("{homeserver}/_matrix/client/v3/account/whoami"))
        .bearer_auth(&after)
        .send()
        .await?;
    ensure!(gone.status() == 401, "the revoked token is refused ({})", gone.status());
    println!("oauth: logged out; the token is revoked");
    Ok(())
}
