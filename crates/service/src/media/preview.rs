//! URL previews (spec: `GET /_matrix/client/v1/media/preview_url`): the page is fetched by the
//! guarded fetcher (`accord_federation::WebFetcher`: denied addresses never reached, redirects
//! checked, sizes and times bounded), its OpenGraph fields read, and its image (`og:image`,
//! resolved against the page, or the URL itself when it is an image) fetched the same way and
//! stored as this server's media, so clients load it as an `mxc://` URI. Answers are kept an
//! hour per URL.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use accord_federation::{WebFetcher, WebPage};
use parking_lot::Mutex;
use ruma::api::error::ErrorKind;
use serde_json::{Map, Value, json};

use super::{Media, media_error};
use crate::{Error, Result};

/// How long a preview is reused.
const CACHE_FOR: Duration = Duration::from_secs(3600);

/// Most previews kept.
const CACHE_ENTRIES: usize = 1000;

/// A preview and when it was made.
type Dated = (Instant, Map<String, Value>);

/// Recent previews by URL.
#[derive(Debug, Default)]
pub(super) struct PreviewCache(Mutex<HashMap<String, Dated>>);

impl Media {
    /// The OpenGraph preview of `url`.
    pub async fn preview_url(&self, url: &str) -> Result<Map<String, Value>> {
        let fetcher = self
            .web
            .as_ref()
            .ok_or_else(|| Error::new(ErrorKind::Unrecognized, "URL previews are off on this server"))?;
        if let Some((at, preview)) = self.previews.0.lock().get(url)
            && at.elapsed() < CACHE_FOR
        {
            return Ok(preview.clone());
        }
        let page = fetcher.fetch(url).await.map_err(fetch_error)?;
        let mut preview = Map::new();
        let image = if is_image(&page) {
            Some(page)
        } else {
            if is_html(&page) {
                let html = String::from_utf8_lossy(&page.body);
                for (key, value) in accord_media::open_graph(&html) {
                    preview.insert(key, Value::String(value));
                }
            }
            match preview
                .get("og:image")
                .and_then(Value::as_str)
                .and_then(|src| WebFetcher::join(&page.url, src))
            {
                Some(image_url) => match fetcher.fetch(&image_url).await {
                    Ok(image) if is_image(&image) => Some(image),
                    Ok(_) | Err(_) => {
                        tracing::info!(%image_url, "preview image not fetched");
                        None
                    }
                },
                None => None,
            }
        };
        preview.remove("og:image");
        if let Some(image) = image {
            self.attach_image(&mut preview, image).await?;
        }
        let mut cache = self.previews.0.lock();
        if cache.len() >= CACHE_ENTRIES {
            cache.retain(|_, (at, _)| at.elapsed() < CACHE_FOR);
            if cache.len() >= CACHE_ENTRIES {
                cache.clear();
            }
        }
        cache.insert(url.to_owned(), (Instant::now(), preview.clone()));
        Ok(preview)
    }

    /// Stores a preview's image as local media and describes it in the preview.
    async fn attach_image(&self, preview: &mut Map<String, Value>, image: WebPage) -> Result<()> {
        let size = image.body.len() as u64;
        let dimensions = accord_media::image_dimensions(&image.body);
        let content_type = image.content_type.clone();
        let _writing = self.files.read().await;
        let blob = accord_media::write_bytes(self.store.as_ref(), image.body)
            .await
            .map_err(media_error)?;
        let media_id = accord_media::new_media_id();
        let record = self.new_record(Some(blob), content_type.clone(), None, None);
        self.put_record(&self.config.server_name, &media_id, &record)?;
        preview.insert(
            "og:image".to_owned(),
            json!(format!("mxc://{}/{media_id}", self.config.server_name)),
        );
        preview.insert("matrix:image:size".to_owned(), json!(size));
        if let Some(content_type) = content_type {
            preview.insert("og:image:type".to_owned(), json!(content_type));
        }
        if let Some((width, height)) = dimensions {
            preview.insert("og:image:width".to_owned(), json!(width));
            preview.insert("og:image:height".to_owned(), json!(height));
        }
        Ok(())
    }
}

fn is_image(page: &WebPage) -> bool {
    page.content_type
        .as_deref()
        .is_some_and(|t| t.trim().to_ascii_lowercase().starts_with("image/"))
}

fn is_html(page: &WebPage) -> bool {
    page.content_type.as_deref().is_some_and(|t| {
        let t = t.to_ascii_lowercase();
        t.starts_with("text/html") || t.starts_with("application/xhtml")
    })
}

/// A failed fetch as the client is told: a blocked address is 403 (Synapse's answer), the rest
/// names what went wrong.
fn fetch_error(err: accord_federation::Error) -> Error {
    match err {
        accord_federation::Error::Blocked(reason) => Error::forbidden(format!("This URL is not previewed: {reason}")),
        other => Error::new(ErrorKind::Unknown, format!("The page could not be fetched: {other}")),
    }
}
