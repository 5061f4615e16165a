//! Inbound transactions already answered, per (origin, txn id): a sender retrying a transaction
//! (say, after a timeout) gets the first answer again instead of a second application of its
//! PDUs and EDUs (spec: transactions are idempotent per origin and id).

use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    sync::Arc,
};

use parking_lot::Mutex;
use ruma::{OwnedEventId, OwnedServerName, OwnedTransactionId};

use crate::Federation;

/// Answers remembered; the oldest is forgotten first.
const REMEMBERED_TRANSACTIONS: usize = 4096;

/// Per-PDU results of a transaction.
pub type TransactionResults = BTreeMap<OwnedEventId, Result<(), String>>;

type Key = (OwnedServerName, OwnedTransactionId);

/// The answers, and their keys oldest first.
#[derive(Debug, Default)]
struct Answers {
    by_key: HashMap<Key, TransactionResults>,
    order: VecDeque<Key>,
}

/// Recently answered transactions.
#[derive(Debug, Default, Clone)]
pub(crate) struct AnsweredTransactions {
    inner: Arc<Mutex<Answers>>,
}

impl Federation {
    /// The answer given to `origin`'s transaction `txn_id`, if it was seen recently.
    pub fn answered_transaction(
        &self,
        origin: &OwnedServerName,
        txn_id: &OwnedTransactionId,
    ) -> Option<TransactionResults> {
        self.transactions
            .inner
            .lock()
            .by_key
            .get(&(origin.clone(), txn_id.clone()))
            .cloned()
    }

    /// Remembers the answer to `origin`'s transaction `txn_id`.
    pub fn remember_transaction(
        &self,
        origin: OwnedServerName,
        txn_id: OwnedTransactionId,
        results: TransactionResults,
    ) {
        let mut answers = self.transactions.inner.lock();
        let key = (origin, txn_id);
        if answers.by_key.insert(key.clone(), results).is_none() {
            answers.order.push_back(key);
        }
        while answers.order.len() > REMEMBERED_TRANSACTIONS {
            if let Some(oldest) = answers.order.pop_front() {
                answers.by_key.remove(&oldest);
            }
        }
    }
}
