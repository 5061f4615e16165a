//! Figures read from the server at each scrape: events written, accounts, rooms, the
//! federation queue per destination and failing destinations, the audit log's length, and
//! storage per table. Reading them costs a few scans per scrape (every 15-60 s), nothing per
//! request.

use accord_service::{Direction, Services, audit::AuditFilter};
use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric},
    metrics::{MetricType, counter::ConstCounter, gauge::ConstGauge},
};

/// Queued events counted per destination at most (a partner down for weeks).
const MAX_COUNTED_QUEUE: usize = 100_000;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DestinationLabel {
    destination: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TableLabel {
    table: String,
}

#[derive(Debug)]
pub(super) struct ServerFigures {
    services: Services,
}

impl ServerFigures {
    pub(super) fn new(services: Services) -> Self {
        Self { services }
    }
}

fn gauge(encoder: &mut DescriptorEncoder, name: &str, help: &str, value: i64) -> Result<(), std::fmt::Error> {
    let metric = ConstGauge::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

/// One gauge family with a value per label set.
fn gauges<L: EncodeLabelSet>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    values: impl IntoIterator<Item = (L, i64)>,
) -> Result<(), std::fmt::Error> {
    let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (labels, value) in values {
        ConstGauge::new(value).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn bytes(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Collector for ServerFigures {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let db = self.services.db();
        let events = ConstCounter::new(db.events_written());
        events.encode(encoder.encode_descriptor(
            "events_persisted",
            "Events stored since start: sent here, received, backfilled",
            None,
            events.metric_type(),
        )?)?;
        // A figure that can't be read is left out of this scrape (and logged), never made up.
        let logged = |what: &str, err: &dyn std::fmt::Display| tracing::warn!(%err, what, "a metric could not be read");
        match db.count_accounts() {
            Ok(n) => gauge(&mut encoder, "users", "Accounts, deactivated ones included", count(n))?,
            Err(err) => logged("users", &err),
        }
        match db.room_ids() {
            Ok(rooms) => gauge(&mut encoder, "rooms", "Rooms this server knows", count(rooms.len()))?,
            Err(err) => logged("rooms", &err),
        }
        match db.queued_destinations() {
            Ok(destinations) => {
                let depths = destinations.into_iter().map(|destination| {
                    let depth = db
                        .queued_for(&destination, MAX_COUNTED_QUEUE)
                        .map(|queued| queued.len())
                        .unwrap_or_default();
                    (
                        DestinationLabel {
                            destination: destination.to_string(),
                        },
                        count(depth),
                    )
                });
                gauges(
                    &mut encoder,
                    "federation_queue_depth",
                    "Events waiting to be sent, per destination",
                    depths.collect::<Vec<_>>(),
                )?;
            }
            Err(err) => logged("federation_queue_depth", &err),
        }
        match db.destination_backoffs() {
            Ok(failing) => gauges(
                &mut encoder,
                "federation_destination_failures",
                "Failed attempts in a row, per destination that is failing now",
                failing.into_iter().map(|(destination, backoff)| {
                    (
                        DestinationLabel {
                            destination: destination.to_string(),
                        },
                        i64::from(backoff.failures),
                    )
                }),
            )?,
            Err(err) => logged("federation_destination_failures", &err),
        }
        match db.audit_records(&AuditFilter::default(), None, Direction::Backward, 1) {
            Ok((newest, _)) => {
                let seq = newest.first().map_or(0, |record| record.body.seq);
                gauge(&mut encoder, "audit_records", "Records in the audit log", bytes(seq))?;
            }
            Err(err) => logged("audit_records", &err),
        }
        let tables = db.table_figures();
        let label = |table: &str| TableLabel {
            table: table.to_owned(),
        };
        gauges(
            &mut encoder,
            "storage_disk_bytes",
            "Bytes in the table's files on disk",
            tables
                .iter()
                .map(|figures| (label(figures.table), bytes(figures.disk_bytes))),
        )?;
        gauges(
            &mut encoder,
            "storage_memory_bytes",
            "Bytes of the table in memory, not yet in files",
            tables
                .iter()
                .map(|figures| (label(figures.table), bytes(figures.memory_bytes))),
        )?;
        gauges(
            &mut encoder,
            "storage_keys",
            "Keys in the table, estimated",
            tables.iter().map(|figures| (label(figures.table), bytes(figures.keys))),
        )?;
        Ok(())
    }
}
