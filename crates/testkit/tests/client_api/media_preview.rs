//! URL previews: off by default (`M_UNRECOGNIZED`); when on, a page's OpenGraph fields come
//! back with its image stored as this server's media (Complement's TestUrlPreview figures);
//! loopback and private addresses are never fetched unless allowed, by name, literal or
//! redirect; other schemes and oversized pages are refused.

use std::net::SocketAddr;

use accord_testkit::{TestServer, urlencode};
use axum::{Router, response::IntoResponse, routing::get};
use image::ImageFormat;

use crate::media_support::{fetch, image_bytes};

/// A small web site on `ip`: a page with OpenGraph tags and a relative image, the image, a
/// redirect to `redirect_to`, and a page larger than a megabyte.
async fn web_site(ip: [u8; 4], redirect_to: Option<String>) -> SocketAddr {
    let png = image_bytes(279, 129, ImageFormat::Png);
    let page = r#"<html><head><title>The Rock (1996)</title>
        <meta property="og:title" content="The Rock" />
        <meta property="og:type" content="video.movie" />
        <meta property="og:url" content="http://www.imdb.com/title/tt0117500/" />
        <meta property="og:image" content="test.png" /></head><body>Hi</body></html>"#;
    let target = redirect_to.unwrap_or_default();
    let app = Router::new()
        .route(
            "/test.html",
            get(move || async move { ([("content-type", "text/html")], page) }),
        )
        .route(
            "/test.png",
            get(move || async move { ([("content-type", "image/png")], png.clone()) }),
        )
        .route(
            "/away",
            get(move || async move { (http::StatusCode::FOUND, [("location", target.clone())]).into_response() }),
        )
        .route(
            "/huge",
            get(|| async { ([("content-type", "text/html")], "x".repeat(2 * 1024 * 1024)) }),
        );
    let listener = tokio::net::TcpListener::bind(SocketAddr::from((ip, 0)))
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    address
}

fn preview_path(url: &str) -> String {
    format!("/_matrix/client/v1/media/preview_url?url={}", urlencode(url))
}

#[tokio::test]
async fn previews_are_off_by_default() {
    let server = TestServer::start().await;
    let alice = server.register("alice", "pw-alice-1").await;
    let reply = server
        .get(&preview_path("https://example.org/"), Some(&alice.token))
        .await;
    reply.assert_error(404, "M_UNRECOGNIZED");
}

#[tokio::test]
async fn a_page_is_previewed_with_its_image_stored_here() {
    let elsewhere = web_site([127, 0, 0, 2], None).await;
    let site = web_site([127, 0, 0, 1], Some(format!("http://{elsewhere}/test.html"))).await;
    let server = TestServer::start_with(|config| {
        config.media.url_preview_enabled = true;
        config.media.url_preview_ip_range_allowlist = vec!["127.0.0.1/32".to_owned()];
        config.media.url_preview_max_bytes = 1024 * 1024;
    })
    .await;
    let alice = server.register("alice", "pw-alice-1").await;
    let preview = server
        .get(&preview_path(&format!("http://{site}/test.html")), Some(&alice.token))
        .await
        .ok();
    assert_eq!(preview["og:title"], "The Rock", "{preview}");
    assert_eq!(preview["og:type"], "video.movie");
    assert_eq!(preview["og:url"], "http://www.imdb.com/title/tt0117500/");
    assert_eq!(
        (preview["og:image:width"].as_u64(), preview["og:image:height"].as_u64()),
        (Some(279), Some(129))
    );
    let png = image_bytes(279, 129, ImageFormat::Png);
    assert_eq!(preview["matrix:image:size"].as_u64(), Some(png.len() as u64));
    let mxc = preview["og:image"].as_str().expect("og:image");
    assert!(
        mxc.starts_with(&format!("mxc://{}/", server.config.server_name)),
        "{mxc}"
    );
    let image = fetch(
        &server,
        &format!("/_matrix/client/v1/media/download/{}", mxc.trim_start_matches("mxc://")),
        Some(&alice.token),
    )
    .await;
    assert_eq!(image.bytes, png);
    // The legacy path answers the same.
    let legacy = server
        .get(
            &format!(
                "/_matrix/media/v3/preview_url?url={}",
                urlencode(&format!("http://{site}/test.html"))
            ),
            Some(&alice.token),
        )
        .await
        .ok();
    assert_eq!(legacy["og:title"], "The Rock");

    // A redirect to an address outside the allow list, that address itself, another scheme,
    // and a page over the size limit: 403, nothing fetched. (`localhost` names 127.0.0.1
    // here, which the allow list admits; the default lists refuse it, tested below.)
    for url in [
        format!("http://{site}/away"),
        format!("http://{elsewhere}/test.html"),
        "file:///etc/passwd".to_owned(),
        format!("http://{site}/huge"),
    ] {
        let reply = server.get(&preview_path(&url), Some(&alice.token)).await;
        assert_eq!(
            (reply.status, reply.errcode()),
            (403, Some("M_FORBIDDEN")),
            "{url}: {}",
            reply.body
        );
    }
}

#[tokio::test]
async fn private_addresses_are_denied_by_default() {
    let site = web_site([127, 0, 0, 1], None).await;
    let server = TestServer::start_with(|config| config.media.url_preview_enabled = true).await;
    let alice = server.register("alice", "pw-alice-1").await;
    for url in [
        format!("http://{site}/test.html"),
        format!("http://localhost:{}/test.html", site.port()),
        format!("http://[::ffff:127.0.0.1]:{}/test.html", site.port()),
        "http://10.1.2.3/".to_owned(),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
    ] {
        let reply = server.get(&preview_path(&url), Some(&alice.token)).await;
        reply.assert_error(403, "M_FORBIDDEN");
    }
}
