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

/// Recently answered transactions.
#[derive(Debug, Default, Clone)]
pub(crate) struct AnsweredTransactions {
    inner: Arc<Mutex<(HashMap<Key, TransactionResults>, VecDeque<Key>)>>,
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
            .0
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
        let mut guard = self.transactions.inner.lock();
        let (answers, order) = &mut *guard;
        let key = (origin, txn_id);
        if answers.insert(key.clone(), results).is_none() {
            order.push_back(key);
        }
        while order.len() > REMEMBERED_TRANSACTIONS {
            if let Some(oldest) = order.pop_front() {
                answers.remove(&oldest);
            }
        }
    }
}
