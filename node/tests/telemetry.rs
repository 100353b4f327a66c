//! OTLP trace export: a node started with `OTEL_EXPORTER_OTLP_ENDPOINT` sends its spans to
//! the collector there (here a stand-in that records what it receives).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::routing::post;
use ossa_testnet::Federation;

const SETTLE: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread")]
async fn a_node_exports_its_spans_over_otlp_when_configured() {
    let received: Arc<Mutex<Vec<(String, usize)>>> = Arc::default();
    let recorder = received.clone();
    let collector = axum::Router::new().route(
        "/v1/traces",
        post(move |headers: axum::http::HeaderMap, body: Bytes| {
            let recorder = recorder.clone();
            async move {
                let kind = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
                recorder.lock().expect("lock").push((kind, body.len()));
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, collector).await });

    let mut net = Federation::up(env!("CARGO_BIN_EXE_ossa"), 3, 3).expect("testnet up");
    net.kill(1).expect("kill");
    net.restart_with_env(1, &[("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()), ("OTEL_BSP_SCHEDULE_DELAY", "200")])
        .expect("restart");
    let exported = net
        .wait_until("the collector receives spans", SETTLE, || async {
            let _ = net.status(1).await;
            let received = received.lock().expect("lock").clone();
            received.into_iter().find(|(_, len)| *len > 0)
        })
        .await
        .expect("spans");
    assert_eq!(exported.0, "application/x-protobuf", "OTLP over HTTP with protobuf bodies");
}
