//! Request metrics: counts by listener, method, route template and status; latency
//! histograms and requests in flight by listener and route. Routes are templates
//! (`/_matrix/client/v3/rooms/{room_id}/send/...`), never concrete paths, so the number of
//! series stays bounded.

use std::time::Duration;

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{
        counter::Counter,
        family::Family,
        gauge::Gauge,
        histogram::{Histogram, exponential_buckets},
    },
    registry::Registry,
};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    listener: String,
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    listener: String,
    route: String,
}

fn latency_histogram() -> Histogram {
    // 1 ms to about 33 s, doubling; long-polls beyond land in +Inf.
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

/// The request metrics. Cheap to clone.
#[derive(Clone, Debug)]
pub struct HttpMetrics {
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
    in_flight: Family<RouteLabels, Gauge>,
}

impl HttpMetrics {
    pub(super) fn register(registry: &mut Registry) -> Self {
        let metrics = Self {
            requests: Family::default(),
            latency: Family::new_with_constructor(latency_histogram),
            in_flight: Family::default(),
        };
        registry.register(
            "http_requests",
            "Requests answered, by listener, method, route template and status",
            metrics.requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to answer a request, by listener and route template",
            metrics.latency.clone(),
        );
        registry.register(
            "http_requests_in_flight",
            "Requests being answered now (open /sync long-polls are sync connections)",
            metrics.in_flight.clone(),
        );
        metrics
    }

    /// A request has started; the guard counts it out when dropped.
    pub fn start(&self, listener: &str, route: &str) -> InFlight {
        let labels = RouteLabels {
            listener: listener.to_owned(),
            route: route.to_owned(),
        };
        self.in_flight.get_or_create(&labels).inc();
        InFlight {
            gauge: self.in_flight.clone(),
            labels,
        }
    }

    /// A request was answered.
    pub fn finish(&self, started: InFlight, method: &str, status: u16, elapsed: Duration) {
        let labels = &started.labels;
        self.requests
            .get_or_create(&RequestLabels {
                listener: labels.listener.clone(),
                method: method.to_owned(),
                route: labels.route.clone(),
                status,
            })
            .inc();
        self.latency.get_or_create(labels).observe(elapsed.as_secs_f64());
    }
}

/// One request in flight; counted out when dropped (also when the client goes away).
pub struct InFlight {
    gauge: Family<RouteLabels, Gauge>,
    labels: RouteLabels,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.gauge.get_or_create(&self.labels).dec();
    }
}
