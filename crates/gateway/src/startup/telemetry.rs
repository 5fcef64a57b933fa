//! The process's tracing subscriber: log lines to stderr (`log_format` text
//! or json, filtered by `RUST_LOG`), and, when `otlp_endpoint` is set, the
//! same spans exported to an OpenTelemetry collector over OTLP/HTTP.

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

use crate::core::config::{Config, LogFormat};

/// A boxed layer over the plain registry, so the optional exporter and
/// either log format stack the same way.
pub type BoxedLayer = Box<dyn Layer<Registry> + Send + Sync>;

/// Keeps the exporter alive; dropping it flushes the spans not sent yet.
#[must_use = "dropping the guard stops the span export"]
pub struct TracingGuard {
    #[cfg(feature = "otlp")]
    provider: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
}

impl Drop for TracingGuard {
    fn drop(&mut self) {
        #[cfg(feature = "otlp")]
        if let Some(provider) = self.provider.take() {
            if let Err(e) = provider.shutdown() {
                eprintln!("flushing OpenTelemetry spans failed: {e}");
            }
        }
    }
}

/// Installs the global subscriber for the binary.
pub fn init_tracing(config: &Config) -> anyhow::Result<TracingGuard> {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=info"));
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let mut layers: Vec<BoxedLayer> = vec![match config.log_format {
        LogFormat::Json => fmt.json().boxed(),
        LogFormat::Text => fmt.boxed(),
    }];
    let guard = match config.otlp_endpoint.as_deref().map(str::trim) {
        Some(endpoint) if !endpoint.is_empty() => {
            let (layer, guard) = otlp_layer(endpoint)?;
            layers.push(layer);
            guard
        }
        _ => TracingGuard {
            #[cfg(feature = "otlp")]
            provider: None,
        },
    };
    tracing_subscriber::registry()
        .with(layers)
        .with(filter)
        .try_init()?;
    Ok(guard)
}

/// The exporter layer: spans batched to `{endpoint}/v1/traces` (OTLP/HTTP,
/// protobuf) by a background thread, under the service name
/// `fansly-gateway`. Nothing is sent until a span closes, so no collector is
/// needed to build it.
#[cfg(feature = "otlp")]
pub fn otlp_layer(endpoint: &str) -> anyhow::Result<(BoxedLayer, TracingGuard)> {
    use anyhow::Context;
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_otlp::{SpanExporter, WithExportConfig};
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use opentelemetry_sdk::Resource;

    let base = url::Url::parse(endpoint)
        .with_context(|| format!("otlp_endpoint {endpoint:?} is not a URL"))?;
    let traces = base
        .join("v1/traces")
        .with_context(|| format!("otlp_endpoint {endpoint:?}"))?;
    let exporter = SpanExporter::builder()
        .with_http()
        .with_endpoint(traces.as_str())
        .build()
        .context("building the OTLP span exporter")?;
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(
            Resource::builder()
                .with_service_name("fansly-gateway")
                .build(),
        )
        .build();
    let tracer = provider.tracer("fansly-gateway");
    let layer = tracing_opentelemetry::layer().with_tracer(tracer).boxed();
    Ok((
        layer,
        TracingGuard {
            provider: Some(provider),
        },
    ))
}

/// Without the `otlp` feature an endpoint is a configuration error, not a
/// silent no-op.
#[cfg(not(feature = "otlp"))]
pub fn otlp_layer(endpoint: &str) -> anyhow::Result<(BoxedLayer, TracingGuard)> {
    anyhow::bail!(
        "otlp_endpoint is set ({endpoint}) but this build has no OpenTelemetry exporter; \
         build with `cargo build --release --features otlp`"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "otlp")]
    #[test]
    fn the_exporter_layer_builds_with_an_endpoint_and_no_collector() {
        // Nothing listens on port 9 (discard); building must not connect.
        let (layer, guard) = otlp_layer("http://127.0.0.1:9").expect("layer builds");
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            tracing::info_span!("request", request_id = "r1").in_scope(|| {
                tracing::info!("inside a span that the exporter batches");
            });
        });
        drop(guard);
    }

    #[test]
    fn a_bad_endpoint_is_refused() {
        assert!(otlp_layer("not a url").is_err());
    }
}
