//! Logs to stderr, and traces over OTLP when configured.
//!
//! Every command logs through `tracing` to stderr (`RUST_LOG` filters; a daemon logs `info` by
//! default). A daemon (`ossa node run`, `ossa testnet up`) also exports its spans over OTLP
//! (HTTP + protobuf) when the standard `OTEL_EXPORTER_OTLP_ENDPOINT` is set (e.g.
//! `http://collector:4318`); the other standard `OTEL_*` variables apply too (service name,
//! headers, batch delay). The node opens a span per HTTP request, per inbound Raft request,
//! per gossip message and per directory sync, so a trace shows where a request's time went.
//! Export runs on the batch processor's own thread; [`Telemetry::shutdown`] flushes it.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{SpanExporter, WithExportConfig};
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// The environment variable that turns OTLP export on.
pub const OTLP_ENDPOINT_ENV: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";

/// The installed telemetry; keep it until the process ends.
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Flushes and stops the OTLP exporter, if any.
    pub fn shutdown(self) {
        if let Some(provider) = self.provider {
            if let Err(err) = provider.shutdown() {
                eprintln!("warning: cannot flush traces: {err}");
            }
        }
    }
}

/// Installs the global subscriber: stderr logs, plus OTLP export for a daemon when
/// `OTEL_EXPORTER_OTLP_ENDPOINT` is set. An exporter that cannot be built is reported and
/// skipped: a node runs without tracing rather than not at all.
pub fn init(daemon: bool) -> Telemetry {
    let default = if daemon { "info,libp2p=warn,openraft=warn" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_ansi(ansi);
    let provider = if daemon && std::env::var_os(OTLP_ENDPOINT_ENV).is_some() {
        match otlp_provider() {
            Ok(provider) => Some(provider),
            Err(err) => {
                eprintln!("warning: OTLP trace export is off: {err}");
                None
            }
        }
    } else {
        None
    };
    let otel = provider.as_ref().map(|p| tracing_opentelemetry::layer().with_tracer(p.tracer("ossa-node")));
    tracing_subscriber::registry().with(filter).with(fmt).with(otel).init();
    Telemetry { provider }
}

fn otlp_provider() -> Result<SdkTracerProvider, opentelemetry_otlp::ExporterBuildError> {
    // The endpoint (and headers, timeout) come from the OTEL_EXPORTER_OTLP_* variables.
    let exporter =
        SpanExporter::builder().with_http().with_protocol(opentelemetry_otlp::Protocol::HttpBinary).build()?;
    let service = std::env::var("OTEL_SERVICE_NAME").unwrap_or_else(|_| "ossa-node".to_owned());
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(Resource::builder().with_service_name(service).build())
        .build())
}
