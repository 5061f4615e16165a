//! Queries: the user's words (all of them must match, as Synapse's search does) in the asked
//! keys, within the given rooms and senders; ranked by BM25 or newest first, a page at a time.

use std::ops::Bound;

use tantivy::{
    Index, Searcher, TantivyDocument, Term,
    collector::{Count, TopDocs},
    query::{BooleanQuery, Occur, Query, QueryParser, RangeQuery, TermSetQuery},
    schema::Value,
};

use crate::{Result, schema::Fields, stored_text};

/// Result order (spec: `order_by`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Best match first.
    Rank,
    /// Newest first.
    Recent,
}

/// Where the words are looked for (spec: `keys`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchKey {
    /// `content.body`.
    Body,
    /// `content.name`.
    Name,
    /// `content.topic`.
    Topic,
}

/// One search.
#[derive(Debug, Clone)]
pub struct SearchQuery<'a> {
    /// What the user typed.
    pub term: &'a str,
    /// Where to look; never empty.
    pub keys: &'a [SearchKey],
    /// Only these rooms; an empty list finds nothing.
    pub rooms: &'a [String],
    /// Only these senders, when given.
    pub senders: Option<&'a [String]>,
    /// Not these senders.
    pub not_senders: &'a [String],
    /// Best or newest first.
    pub order: Order,
    /// Where the page starts: for [`Order::Recent`] only events below this timeline position,
    /// for [`Order::Rank`] after skipping this many hits.
    pub after: Option<u64>,
    /// Hits per page.
    pub limit: usize,
}

/// One matching event.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// The event.
    pub event_id: String,
    /// Its room.
    pub room_id: String,
    /// Its timeline position.
    pub count: u64,
    /// Its BM25 score (0 for [`Order::Recent`]).
    pub rank: f32,
}

/// A page of hits.
#[derive(Debug, Clone, PartialEq)]
pub struct Hits {
    /// The page, in order.
    pub hits: Vec<Hit>,
    /// How many events match in all (every page).
    pub total: usize,
}

pub(crate) fn run(index: &Index, searcher: &Searcher, fields: &Fields, query: &SearchQuery<'_>) -> Result<Hits> {
    let empty = Hits {
        hits: Vec::new(),
        total: 0,
    };
    if query.rooms.is_empty() || query.limit == 0 || crate::schema::words(index, query.term).is_empty() {
        return Ok(empty);
    }
    let key_fields = query
        .keys
        .iter()
        .map(|key| match key {
            SearchKey::Body => fields.body,
            SearchKey::Name => fields.name,
            SearchKey::Topic => fields.topic,
        })
        .collect();
    let mut parser = QueryParser::for_index(index, key_fields);
    parser.set_conjunction_by_default();
    // Lenient: what a user types is words, not query syntax to get right.
    let (words, _) = parser.parse_query_lenient(query.term);
    let terms = |field, values: &[String]| -> Box<dyn Query> {
        Box::new(TermSetQuery::new(
            values.iter().map(|value| Term::from_field_text(field, value)),
        ))
    };
    let mut clauses: Vec<(Occur, Box<dyn Query>)> =
        vec![(Occur::Must, words), (Occur::Must, terms(fields.room_id, query.rooms))];
    if let Some(senders) = query.senders {
        clauses.push((Occur::Must, terms(fields.sender, senders)));
    }
    if !query.not_senders.is_empty() {
        clauses.push((Occur::MustNot, terms(fields.sender, query.not_senders)));
    }
    let all = BooleanQuery::new(clauses.iter().map(|(occur, q)| (*occur, q.box_clone())).collect());
    let total = searcher.search(&all, &Count)?;

    let found: Vec<(f32, tantivy::DocAddress)> = match query.order {
        Order::Rank => {
            let skip = usize::try_from(query.after.unwrap_or(0)).unwrap_or(usize::MAX);
            let top = TopDocs::with_limit(query.limit).and_offset(skip).order_by_score();
            searcher.search(&all, &top)?
        }
        Order::Recent => {
            if let Some(below) = query.after {
                let range = RangeQuery::new(
                    Bound::Unbounded,
                    Bound::Excluded(Term::from_field_u64(fields.count, below)),
                );
                clauses.push((Occur::Must, Box::new(range)));
            }
            let page = BooleanQuery::new(clauses);
            let top = TopDocs::with_limit(query.limit).order_by_fast_field::<u64>("count", tantivy::Order::Desc);
            searcher
                .search(&page, &top)?
                .into_iter()
                .map(|(_, address)| (0.0, address))
                .collect()
        }
    };
    let mut hits = Vec::with_capacity(found.len());
    for (rank, address) in found {
        let doc: TantivyDocument = searcher.doc(address)?;
        let (Some(event_id), Some(room_id)) = (stored_text(&doc, fields.event_id), stored_text(&doc, fields.room_id))
        else {
            continue;
        };
        let count = doc
            .get_first(fields.count)
            .and_then(|value| value.as_u64())
            .unwrap_or(0);
        hits.push(Hit {
            event_id,
            room_id,
            count,
            rank,
        });
    }
    Ok(Hits { hits, total })
}
