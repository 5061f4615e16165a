//! The index's fields and its tokenizer: words split on anything not a letter or digit,
//! lowercased and folded to ASCII ("Café" finds "cafe"); no stemming or stop words, which
//! depend on a language the server can't know.

use tantivy::{
    Index, TantivyDocument,
    schema::{Field, IndexRecordOption, NumericOptions, STORED, STRING, Schema, TextFieldIndexing, TextOptions},
    tokenizer::{AsciiFoldingFilter, LowerCaser, RemoveLongFilter, SimpleTokenizer, TextAnalyzer},
};

use crate::IndexedEvent;

/// The tokenizer's name in the index.
const TOKENIZER: &str = "accord_words";

/// Longest word indexed, in bytes (longer ones are noise: keys, hashes, URLs).
const MAX_WORD: usize = 64;

/// The fields of the schema.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fields {
    pub event_id: Field,
    pub room_id: Field,
    pub sender: Field,
    pub count: Field,
    pub body: Field,
    pub name: Field,
    pub topic: Field,
}

pub(crate) fn build() -> (Schema, Fields) {
    let mut builder = Schema::builder();
    let words = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(TOKENIZER)
            .set_index_option(IndexRecordOption::WithFreqsAndPositions),
    );
    let fields = Fields {
        event_id: builder.add_text_field("event_id", STRING | STORED),
        room_id: builder.add_text_field("room_id", STRING | STORED),
        sender: builder.add_text_field("sender", STRING),
        count: builder.add_u64_field("count", NumericOptions::default().set_indexed().set_stored().set_fast()),
        body: builder.add_text_field("body", words.clone()),
        name: builder.add_text_field("name", words.clone()),
        topic: builder.add_text_field("topic", words),
    };
    (builder.build(), fields)
}

fn analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(MAX_WORD))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .build()
}

pub(crate) fn register_tokenizer(index: &Index) {
    index.tokenizers().register(TOKENIZER, analyzer());
}

pub(crate) fn words(index: &Index, text: &str) -> Vec<String> {
    let mut analyzer = index.tokenizers().get(TOKENIZER).unwrap_or_else(analyzer);
    let mut stream = analyzer.token_stream(text);
    let mut words = Vec::new();
    while let Some(token) = stream.next() {
        if !words.contains(&token.text) {
            words.push(token.text.clone());
        }
    }
    words
}

impl Fields {
    pub(crate) fn document(&self, event: &IndexedEvent) -> TantivyDocument {
        let mut doc = TantivyDocument::default();
        doc.add_text(self.event_id, &event.event_id);
        doc.add_text(self.room_id, &event.room_id);
        doc.add_text(self.sender, &event.sender);
        doc.add_u64(self.count, event.count);
        for (field, text) in [
            (self.body, &event.body),
            (self.name, &event.name),
            (self.topic, &event.topic),
        ] {
            if let Some(text) = text {
                doc.add_text(field, text);
            }
        }
        doc
    }
}
