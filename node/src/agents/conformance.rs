//! The automated conformance checks a steward's node runs before it certifies an agent. Each
//! gives a [`Check`] (name, passed, what was found), all of which are reported to the caller.
//!
//! - `manifest`: the manifest validates strictly against the format it claims
//!   ([`validate_strict`]).
//! - `record`: the agent's signed record says what the manifest says (id, name, version,
//!   description, capabilities, endpoint, protocol, format): the record is what the directory
//!   shows, so a record that differs from the checked manifest is not certified.
//! - `endpoint`: the declared endpoint answers. One `GET` of the endpoint URL, without
//!   following redirects, within [`PROBE_TIMEOUT`]; reading at most [`MAX_PROBE_BODY`] bytes of
//!   the answer. Any HTTP response below 500 counts as an answer, because an agent's endpoint
//!   is an RPC URL that may well refuse a bare `GET` (404, 405) or demand credentials (401)
//!   while being up; a 5xx, a refused connection, a TLS failure or a timeout do not.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::manifest::{validate_strict, ImportedAgent};
use crate::wire::pb;

/// How long the endpoint probe may take in all (connect, TLS, answer, body).
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(5);
/// Most bytes of the endpoint's answer that are read; the rest is not waited for.
pub const MAX_PROBE_BODY: usize = 64 * 1024;

/// The outcome of one check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    /// `manifest`, `record` or `endpoint`.
    pub name: String,
    /// Whether it passed.
    pub passed: bool,
    /// What was found.
    pub detail: String,
}

impl Check {
    fn new(name: &str, passed: bool, detail: impl Into<String>) -> Self {
        Self { name: name.to_owned(), passed, detail: detail.into() }
    }
}

/// The `manifest` check; the imported agent when it passed.
pub fn check_manifest(manifest: &[u8]) -> (Check, Option<ImportedAgent>) {
    match validate_strict(manifest) {
        Ok(agent) => {
            let detail = format!("valid {} manifest with every required field", agent.format);
            (Check::new("manifest", true, detail), Some(agent))
        }
        Err(problems) => {
            let listed: Vec<String> = problems.iter().map(ToString::to_string).collect();
            (Check::new("manifest", false, listed.join("; ")), None)
        }
    }
}

/// The `record` check: `record` holds what `agent` (the imported manifest) says.
pub fn check_record(record: &pb::AgentRecord, agent: Option<&ImportedAgent>) -> Check {
    let Some(agent) = agent else {
        return Check::new("record", false, "not compared: the manifest did not validate");
    };
    let fields = [
        ("agent id", record.agent_id == agent.id),
        ("name", record.name == agent.name),
        ("version", record.version == agent.version),
        ("description", record.description == agent.description.clone().unwrap_or_default()),
        ("capabilities", record.capabilities == agent.capabilities),
        ("endpoint", record.endpoint == agent.endpoint.clone().unwrap_or_default()),
        ("protocol", record.protocol == agent.protocol),
        ("format", record.format == agent.format.as_str()),
    ];
    let differing: Vec<&str> = fields.iter().filter(|(_, same)| !same).map(|(name, _)| *name).collect();
    if differing.is_empty() {
        Check::new("record", true, "the signed record matches the manifest")
    } else {
        Check::new("record", false, format!("the signed record differs from the manifest in: {}", differing.join(", ")))
    }
}

/// The `endpoint` check: probes `endpoint` (empty when the manifest declares none).
pub async fn check_endpoint(endpoint: &str) -> Check {
    if endpoint.is_empty() {
        return Check::new("endpoint", false, "no endpoint declared");
    }
    match probe(endpoint).await {
        Ok((status, read)) if status < 500 => {
            Check::new("endpoint", true, format!("{endpoint} answered HTTP {status} ({read} bytes read)"))
        }
        Ok((status, _)) => Check::new("endpoint", false, format!("{endpoint} answered HTTP {status} (a server error)")),
        Err(err) => Check::new("endpoint", false, format!("{endpoint} did not answer: {}", describe(&err))),
    }
}

/// The error and its causes ("connection refused" is a cause, not reqwest's own message).
fn describe(err: &reqwest::Error) -> String {
    if err.is_timeout() {
        return format!("no answer within {} s", PROBE_TIMEOUT.as_secs());
    }
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// One `GET`; the status and how many body bytes were read (at most [`MAX_PROBE_BODY`]).
async fn probe(endpoint: &str) -> Result<(u16, usize), reqwest::Error> {
    let client = reqwest::Client::builder()
        .timeout(PROBE_TIMEOUT)
        .connect_timeout(PROBE_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let mut response = client.get(endpoint).header("user-agent", "ossa-conformance/1").send().await?;
    let status = response.status().as_u16();
    let mut read = 0;
    while read < MAX_PROBE_BODY {
        match response.chunk().await? {
            Some(chunk) => read += chunk.len(),
            None => break,
        }
    }
    Ok((status, read.min(MAX_PROBE_BODY)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Serves `answer` to every connection on a loopback port; returns the endpoint URL.
    async fn serve(answer: &'static [u8]) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut request = [0u8; 1024];
                    let _ = socket.read(&mut request).await;
                    let _ = socket.write_all(answer).await;
                });
            }
        });
        format!("http://{addr}/a2a")
    }

    #[tokio::test]
    async fn an_endpoint_answering_below_500_passes() {
        let ok = serve(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok").await;
        let check = check_endpoint(&ok).await;
        assert!(check.passed, "{check:?}");
        assert!(check.detail.contains("HTTP 200 (2 bytes read)"), "{check:?}");
        let refuses_get = serve(b"HTTP/1.1 405 Method Not Allowed\r\ncontent-length: 0\r\n\r\n").await;
        assert!(check_endpoint(&refuses_get).await.passed);
    }

    #[tokio::test]
    async fn silence_refusal_and_server_errors_fail() {
        let failing = serve(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n").await;
        let check = check_endpoint(&failing).await;
        assert!(!check.passed && check.detail.contains("503"), "{check:?}");
        // A port nobody listens on.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let closed = format!("http://{}/", listener.local_addr().expect("addr"));
        drop(listener);
        let check = check_endpoint(&closed).await;
        assert!(!check.passed && check.detail.contains("did not answer"), "{check:?}");
        assert!(!check_endpoint("").await.passed);
        // https is spoken: a plain-HTTP server fails at the TLS handshake.
        let plain = serve(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").await.replace("http://", "https://");
        let check = check_endpoint(&plain).await;
        assert!(!check.passed && check.detail.contains("corrupt message"), "{check:?}");
    }

    #[tokio::test]
    async fn a_huge_answer_is_read_only_up_to_the_limit() {
        // Claims 100 MiB and sends 1 MiB: the probe stops at the limit instead of waiting.
        static BIG: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
        let body = BIG.get_or_init(|| {
            let mut answer = b"HTTP/1.1 200 OK\r\ncontent-length: 104857600\r\n\r\n".to_vec();
            answer.resize(answer.len() + 1024 * 1024, b'x');
            answer
        });
        let check = check_endpoint(&serve(body).await).await;
        assert!(check.passed, "{check:?}");
        assert!(check.detail.contains(&format!("({MAX_PROBE_BODY} bytes read)")), "{check:?}");
    }

    #[test]
    fn the_record_must_say_what_the_manifest_says() {
        let manifest =
            std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/manifests/a2a-1.0-recipe-agent.json"))
                .expect("fixture");
        let (check, agent) = check_manifest(&manifest);
        assert!(check.passed, "{check:?}");
        let agent = agent.expect("imported");
        let mut record = crate::agents::record::build_record(&agent, "acme", "acme-t", 1, 1);
        assert!(check_record(&record, Some(&agent)).passed);
        record.endpoint = "https://elsewhere.example/".into();
        record.capabilities.push("transfer-funds".into());
        let check = check_record(&record, Some(&agent));
        assert!(!check.passed);
        assert!(check.detail.ends_with("capabilities, endpoint"), "{check:?}");
        assert!(!check_record(&record, None).passed);
    }
}
