//! OpenGraph metadata of a web page, for URL previews (spec: `GET /preview_url` answers with
//! `og:*` keys): every `<meta property="og:…" content="…">` (the first of each wins), with the
//! page's `<title>` and `<meta name="description">` standing in for a missing `og:title` and
//! `og:description`.

use std::collections::BTreeMap;

use scraper::{Html, Selector};

/// Longest value kept of one field (a page's description can be a whole article).
const MAX_VALUE_CHARS: usize = 1000;

/// The `og:*` fields of an HTML page.
pub fn open_graph(html: &str) -> BTreeMap<String, String> {
    let document = Html::parse_document(html);
    let mut fields = BTreeMap::new();
    let mut keep = |key: &str, value: &str| {
        let value = value.trim();
        if !value.is_empty() && !fields.contains_key(key) {
            fields.insert(key.to_owned(), value.chars().take(MAX_VALUE_CHARS).collect::<String>());
        }
    };
    if let Ok(meta) = Selector::parse("meta[content]") {
        for element in document.select(&meta) {
            let attrs = element.value();
            let key = attrs
                .attr("property")
                .or_else(|| attrs.attr("name"))
                .unwrap_or_default();
            if key.starts_with("og:") {
                keep(key, attrs.attr("content").unwrap_or_default());
            }
        }
        if let Ok(description) = Selector::parse("meta[name=description][content]")
            && let Some(element) = document.select(&description).next()
        {
            keep("og:description", element.value().attr("content").unwrap_or_default());
        }
    }
    if let Ok(title) = Selector::parse("title")
        && let Some(element) = document.select(&title).next()
    {
        keep("og:title", &element.text().collect::<String>());
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn og_tags_win_and_the_title_stands_in() {
        let html = r#"<html><head><title>The Rock (1996)</title>
            <meta property="og:title" content="The Rock" />
            <meta property="og:type" content="video.movie" />
            <meta property="og:image" content="test.png" />
            <meta name="description" content="A film." /></head><body></body></html>"#;
        let fields = open_graph(html);
        assert_eq!(fields["og:title"], "The Rock");
        assert_eq!(fields["og:type"], "video.movie");
        assert_eq!(fields["og:image"], "test.png");
        assert_eq!(fields["og:description"], "A film.");
        let bare = open_graph("<title> Just a title </title>");
        assert_eq!(bare.get("og:title").map(String::as_str), Some("Just a title"));
        assert!(open_graph("not html at all").is_empty() || !open_graph("x").contains_key("og:image"));
    }
}
