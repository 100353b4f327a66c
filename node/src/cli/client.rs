//! Client commands: talk to a node's HTTP API and print a table (or JSON with `--json`).

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use serde_json::Value;

use super::{table, ClientArgs};
use crate::agents::directory::AgentView;
use crate::api::{MemberView, Status};
use crate::config::{NodeConfig, NodeDir, DEFAULT_API};
use crate::trust_scores::ranking::RankedAgent;

/// A write may wait for a leader election and a forwarded commit; 30 s is ample.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Connection details resolved from flags, environment and node directory.
struct Endpoint {
    base: String,
    token: Option<String>,
}

fn endpoint(args: &ClientArgs) -> anyhow::Result<Endpoint> {
    let dir = args.dir.as_ref().map(NodeDir::new);
    let base = match (&args.api, &dir) {
        (Some(api), _) => api.clone(),
        (None, Some(dir)) => format!("http://{}", NodeConfig::load(&dir.config())?.api),
        (None, None) => format!("http://{DEFAULT_API}"),
    };
    let token = match (&args.token, &dir) {
        (Some(token), _) => Some(token.clone()),
        (None, Some(dir)) => Some(
            std::fs::read_to_string(dir.api_token())
                .with_context(|| format!("cannot read {}", dir.api_token().display()))?
                .trim()
                .to_owned(),
        ),
        (None, None) => None,
    };
    Ok(Endpoint { base: base.trim_end_matches('/').to_owned(), token })
}

/// A request body: JSON, or raw bytes (a manifest).
pub(super) enum Body {
    Json(Value),
    Raw(Vec<u8>),
}

pub(super) async fn call(
    args: &ClientArgs,
    method: reqwest::Method,
    path: &str,
    body: Option<Body>,
) -> anyhow::Result<reqwest::Response> {
    let response = send(args, method, path, body).await?;
    if response.status().is_success() {
        return Ok(response);
    }
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    bail!("{} (HTTP {status})", error_message(&text))
}

/// The `error.message` of an API error body, else the body as it is.
fn error_message(text: &str) -> String {
    serde_json::from_str::<Value>(text)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
        .unwrap_or_else(|| text.to_owned())
}

/// Sends a request and returns the answer whatever its status.
async fn send(
    args: &ClientArgs,
    method: reqwest::Method,
    path: &str,
    body: Option<Body>,
) -> anyhow::Result<reqwest::Response> {
    let endpoint = endpoint(args)?;
    let client = reqwest::Client::builder().timeout(REQUEST_TIMEOUT).build()?;
    let mut request = client.request(method, format!("{}{path}", endpoint.base));
    if let Some(token) = &endpoint.token {
        request = request.bearer_auth(token);
    }
    match body {
        Some(Body::Json(body)) => request = request.json(&body),
        Some(Body::Raw(bytes)) => request = request.header("content-type", "application/octet-stream").body(bytes),
        None => {}
    }
    request.send().await.with_context(|| format!("cannot reach the node API at {}", endpoint.base))
}

async fn get_json<T: serde::de::DeserializeOwned>(args: &ClientArgs, path: &str) -> anyhow::Result<T> {
    Ok(call(args, reqwest::Method::GET, path, None).await?.json().await?)
}

/// `ossa status`.
pub async fn status(args: &ClientArgs) -> anyhow::Result<ExitCode> {
    let status: Status = get_json(args, "/v1/status").await?;
    if args.json {
        out!("{}", serde_json::to_string_pretty(&status)?);
        return Ok(ExitCode::SUCCESS);
    }
    let rows = vec![
        vec!["org".into(), status.org],
        vec!["federation".into(), status.federation],
        vec!["peer id".into(), status.peer_id],
        vec!["role".into(), status.role],
        vec!["raft state".into(), status.raft_state],
        vec!["leader".into(), status.leader.unwrap_or_else(|| "-".into())],
        vec!["term".into(), status.term.to_string()],
        vec!["last applied".into(), status.last_applied.map(|i| i.to_string()).unwrap_or_else(|| "-".into())],
        vec!["ready".into(), status.ready.to_string()],
        vec!["members".into(), status.members.to_string()],
        vec!["tenants".into(), status.tenants.to_string()],
        vec!["audit entries".into(), status.audit_entries.to_string()],
        vec!["certificate expires".into(), format_unix_date(status.cert_expires_at)],
        vec!["connected peers".into(), status.peers.iter().map(|p| p.org.as_str()).collect::<Vec<_>>().join(", ")],
        vec!["routing table".into(), format!("{} peers", status.routing_table)],
    ];
    table::print(&["field", "value"], &rows);
    let now = crate::clock::now_ms() / 1000;
    if status.revoked {
        eprintln!("warning: the federation has revoked this org; peers refuse this node");
    }
    if crate::expiry::needs_warning(status.cert_expires_at, now) {
        let days = crate::expiry::seconds_left(status.cert_expires_at, now) / 86_400;
        eprintln!("warning: the org certificate expires in {days} days; ask the federation admin for a new one");
    }
    Ok(ExitCode::SUCCESS)
}

/// `YYYY-MM-DD` of a Unix time in seconds (UTC).
fn format_unix_date(secs: u64) -> String {
    time::OffsetDateTime::from_unix_timestamp(i64::try_from(secs).unwrap_or(i64::MAX))
        .map(|t| format!("{}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day()))
        .unwrap_or_else(|_| "-".into())
}

/// `ossa members`.
pub async fn members(args: &ClientArgs) -> anyhow::Result<ExitCode> {
    let members: Vec<MemberView> = get_json(args, "/v1/members").await?;
    if args.json {
        out!("{}", serde_json::to_string_pretty(&members)?);
        return Ok(ExitCode::SUCCESS);
    }
    let rows = members
        .into_iter()
        .map(|m| {
            let lag = m.lag.map(|l| l.to_string()).unwrap_or_else(|| "-".into());
            vec![m.org, m.role, m.raft, lag, m.peer_id, m.admitted_at.to_string()]
        })
        .collect::<Vec<_>>();
    table::print(&["org", "role", "raft", "lag", "peer id", "admitted at"], &rows);
    Ok(ExitCode::SUCCESS)
}

/// `ossa tenant create`.
pub async fn tenant_create(args: &ClientArgs, name: &str) -> anyhow::Result<ExitCode> {
    let body = serde_json::json!({ "name": name });
    let tenant: Value = call(args, reqwest::Method::POST, "/v1/tenants", Some(Body::Json(body))).await?.json().await?;
    if args.json {
        out!("{tenant}");
    } else {
        out!(
            "tenant {} created (owner {}, raft index {})",
            tenant["name"].as_str().unwrap_or("?"),
            tenant["owner"].as_str().unwrap_or("?"),
            tenant["created_at"]
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `ossa tenant list`.
pub async fn tenant_list(args: &ClientArgs) -> anyhow::Result<ExitCode> {
    let tenants: Vec<ossa_consensus::Tenant> = get_json(args, "/v1/tenants").await?;
    if args.json {
        out!("{}", serde_json::to_string_pretty(&tenants)?);
        return Ok(ExitCode::SUCCESS);
    }
    let rows = tenants.into_iter().map(|t| vec![t.name, t.owner, t.created_at.to_string()]).collect::<Vec<_>>();
    table::print(&["tenant", "owner", "created at"], &rows);
    Ok(ExitCode::SUCCESS)
}

fn query_string(pairs: &[(&str, Option<&str>)]) -> String {
    let encoded: Vec<String> = pairs.iter().filter_map(|(k, v)| v.map(|v| format!("{k}={}", url_encode(v)))).collect();
    if encoded.is_empty() {
        String::new()
    } else {
        format!("?{}", encoded.join("&"))
    }
}

fn url_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn print_agents(args: &ClientArgs, agents: &[RankedAgent]) -> anyhow::Result<()> {
    if args.json {
        out!("{}", serde_json::to_string_pretty(agents)?);
        return Ok(());
    }
    let rows = agents
        .iter()
        .map(|ranked| {
            let a = &ranked.agent;
            let trust =
                if ranked.quarantined { format!("{} (quarantined)", ranked.trust) } else { ranked.trust.to_string() };
            vec![
                trust,
                a.tier.map(|t| t.to_string()).unwrap_or_else(|| "-".into()),
                a.tenant.clone(),
                a.id.clone(),
                a.name.clone(),
                a.org.clone(),
                a.capabilities.join(","),
                a.protocol.clone(),
                a.endpoint.clone(),
            ]
        })
        .collect::<Vec<_>>();
    table::print(&["trust", "tier", "tenant", "id", "name", "org", "capabilities", "protocol", "endpoint"], &rows);
    Ok(())
}

/// Reads a manifest file, refusing one over the size the node accepts.
fn read_manifest(file: &Path) -> anyhow::Result<Vec<u8>> {
    let limit = crate::agents::manifest::MAX_MANIFEST_BYTES as u64;
    let len = std::fs::metadata(file).with_context(|| format!("cannot read {}", file.display()))?.len();
    if len > limit {
        bail!("{} is {len} bytes; a manifest is at most {limit}", file.display());
    }
    std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))
}

/// `ossa agent register`.
pub async fn agent_register(args: &ClientArgs, file: &Path, tenant: &str) -> anyhow::Result<ExitCode> {
    let bytes = read_manifest(file)?;
    let path = format!("/v1/agents{}", query_string(&[("tenant", Some(tenant))]));
    let response = call(args, reqwest::Method::POST, &path, Some(Body::Raw(bytes)))
        .await
        .with_context(|| format!("{} was not registered", file.display()))?;
    let agent: AgentView = response.json().await?;
    if args.json {
        out!("{}", serde_json::to_string_pretty(&agent)?);
    } else {
        out!(
            "registered {}/{} ({}) with capabilities: {}",
            agent.tenant,
            agent.id,
            agent.format,
            agent.capabilities.join(", ")
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `ossa agent find` and `ossa agent list`.
pub async fn agent_find(args: &ClientArgs, filter: &AgentFilter) -> anyhow::Result<ExitCode> {
    let endpoint = if filter.capability.is_some() { "/v1/agents/search" } else { "/v1/agents" };
    let min_trust = filter.min_trust.map(|t| t.to_string());
    let query = query_string(&[
        ("capability", filter.capability.as_deref()),
        ("tenant", filter.tenant.as_deref()),
        ("tier", filter.tier.as_deref()),
        ("min_trust", min_trust.as_deref()),
        ("include_quarantined", filter.include_quarantined.then_some("true")),
    ]);
    let agents: Vec<RankedAgent> = get_json(args, &format!("{endpoint}{query}")).await?;
    print_agents(args, &agents)?;
    Ok(ExitCode::SUCCESS)
}

/// What `ossa agent find` / `agent list` ask for.
#[derive(Debug, Default)]
pub struct AgentFilter {
    /// Capability the agent must have (`find`).
    pub capability: Option<String>,
    /// Only agents of this tenant.
    pub tenant: Option<String>,
    /// Only agents certified at this tier or higher.
    pub tier: Option<String>,
    /// Only agents with at least this trust score.
    pub min_trust: Option<u16>,
    /// Also show quarantined agents.
    pub include_quarantined: bool,
}

/// `ossa trust observe`.
pub async fn trust_observe(
    args: &ClientArgs,
    agent: &str,
    outcome: &str,
    latency_ms: Option<u32>,
) -> anyhow::Result<ExitCode> {
    let body = serde_json::json!({ "agent": agent, "outcome": outcome, "latency_ms": latency_ms });
    let observation: Value =
        call(args, reqwest::Method::POST, "/v1/observations", Some(Body::Json(body))).await?.json().await?;
    if args.json {
        out!("{observation}");
    } else {
        out!(
            "observed {} of {} ({}), sequence {}; gossiped to the federation",
            observation["outcome"].as_str().unwrap_or_default(),
            agent,
            observation["subject_org"].as_str().unwrap_or_default(),
            observation["sequence"]
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `ossa trust show`.
pub async fn trust_show(args: &ClientArgs) -> anyhow::Result<ExitCode> {
    let view: crate::api::trust::TrustView = get_json(args, "/v1/trust").await?;
    if args.json {
        out!("{}", serde_json::to_string_pretty(&view.scores)?);
        return Ok(ExitCode::SUCCESS);
    }
    let milli = |v: u64| format!("{:.1}", v as f64 / 1000.0);
    let rows = view
        .scores
        .iter()
        .map(|row| {
            let mut flags = Vec::new();
            if row.steward == Some(true) {
                flags.push("steward");
            }
            if row.convicted == Some(true) {
                flags.push("EQUIVOCATED");
            }
            if row.quarantined {
                flags.push("QUARANTINED");
            }
            vec![
                row.org.clone(),
                row.agent.clone().unwrap_or_else(|| "-".into()),
                row.score.to_string(),
                milli(row.evidence.successes_milli),
                milli(row.evidence.failures_milli),
                milli(row.evidence.violations_milli),
                milli(row.evidence.penalties_milli),
                flags.join(","),
            ]
        })
        .collect::<Vec<_>>();
    table::print(&["org", "agent", "score", "successes", "failures", "violations", "penalties", "flags"], &rows);
    Ok(ExitCode::SUCCESS)
}

/// The tenant and id of an agent given as `ID --tenant T` or as `TENANT/ID`.
fn agent_ref<'a>(id: &'a str, tenant: Option<&'a str>) -> anyhow::Result<(&'a str, &'a str)> {
    match (tenant, id.split_once('/')) {
        (Some(tenant), _) => Ok((tenant, id)),
        (None, Some((tenant, id))) => Ok((tenant, id)),
        (None, None) => bail!("give the tenant with --tenant or as TENANT/ID"),
    }
}

/// `YYYY-MM-DD` of a Unix time in milliseconds, or `-`.
fn format_ms_date(ms: u64) -> String {
    format_unix_date(ms / 1000)
}

/// `ossa agent get`.
pub async fn agent_get(args: &ClientArgs, id: &str, tenant: Option<&str>) -> anyhow::Result<ExitCode> {
    let (tenant, id) = agent_ref(id, tenant)?;
    let agent: AgentView = get_json(args, &format!("/v1/agents/{}/{}", url_encode(tenant), url_encode(id))).await?;
    if args.json {
        out!("{}", serde_json::to_string_pretty(&agent)?);
        return Ok(ExitCode::SUCCESS);
    }
    let rows = vec![
        vec!["agent".into(), format!("{}/{}", agent.tenant, agent.id)],
        vec!["name".into(), agent.name.clone()],
        vec!["org".into(), agent.org.clone()],
        vec!["version".into(), agent.version.clone()],
        vec!["tier".into(), agent.tier.map(|t| t.to_string()).unwrap_or_else(|| "-".into())],
        vec!["capabilities".into(), agent.capabilities.join(",")],
        vec!["protocol".into(), agent.protocol.clone()],
        vec!["endpoint".into(), agent.endpoint.clone()],
        vec!["format".into(), agent.format.clone()],
        vec!["manifest sha256".into(), agent.manifest_digest.clone()],
        vec!["record expires".into(), format_ms_date(agent.expires_at_ms)],
    ];
    table::print(&["field", "value"], &rows);
    if !agent.certifications.is_empty() {
        out!("");
        let rows = agent
            .certifications
            .iter()
            .map(|c| vec![c.tier.to_string(), c.certifier.clone(), format_ms_date(c.expires_at_ms)])
            .collect::<Vec<_>>();
        table::print(&["tier", "certified by", "expires"], &rows);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_checks(checks: &Value) {
    let rows = checks
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            vec![
                c["name"].as_str().unwrap_or_default().to_owned(),
                if c["passed"].as_bool() == Some(true) { "passed" } else { "FAILED" }.to_owned(),
                c["detail"].as_str().unwrap_or_default().to_owned(),
            ]
        })
        .collect::<Vec<_>>();
    table::print(&["check", "result", "detail"], &rows);
}

/// `ossa agent certify`.
pub async fn agent_certify(
    args: &ClientArgs,
    id: &str,
    tenant: Option<&str>,
    tier: &str,
    manifest: &Path,
) -> anyhow::Result<ExitCode> {
    let (tenant, id) = agent_ref(id, tenant)?;
    let bytes = read_manifest(manifest)?;
    let path = format!(
        "/v1/agents/{}/{}/certify{}",
        url_encode(tenant),
        url_encode(id),
        query_string(&[("tier", Some(tier))])
    );
    let response = send(args, reqwest::Method::POST, &path, Some(Body::Raw(bytes))).await?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    if status.is_success() {
        if args.json {
            out!("{}", serde_json::to_string_pretty(&body)?);
        } else {
            print_checks(&body["checks"]);
            let certification = &body["certification"];
            out!(
                "certified {tenant}/{id} {} by {}, valid until {}; gossiped to the federation",
                certification["tier"].as_str().unwrap_or_default(),
                certification["certifier"].as_str().unwrap_or_default(),
                format_ms_date(certification["expires_at_ms"].as_u64().unwrap_or_default())
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    if body["checks"].is_array() {
        if args.json {
            out!("{}", serde_json::to_string_pretty(&body)?);
        } else {
            print_checks(&body["checks"]);
        }
    }
    bail!("{tenant}/{id} was not certified: {} (HTTP {status})", error_message(&text))
}

/// `ossa agent remove`.
pub async fn agent_remove(args: &ClientArgs, id: &str, tenant: Option<&str>) -> anyhow::Result<ExitCode> {
    let (tenant, id) = agent_ref(id, tenant)?;
    let path = format!("/v1/agents/{}/{}", url_encode(tenant), url_encode(id));
    call(args, reqwest::Method::DELETE, &path, None).await?;
    if args.json {
        out!("{}", serde_json::json!({ "removed": { "tenant": tenant, "id": id } }));
    } else {
        out!("removed {tenant}/{id}; the tombstone is gossiped to the federation");
    }
    Ok(ExitCode::SUCCESS)
}

fn read_policy(file: &Path) -> anyhow::Result<Vec<u8>> {
    let limit = ossa_policy::MAX_POLICY_SET_BYTES as u64;
    let len = std::fs::metadata(file).with_context(|| format!("cannot read {}", file.display()))?.len();
    if len > limit {
        bail!("{} is {len} bytes; a policy set is at most {limit}", file.display());
    }
    std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))
}

fn print_warnings(body: &Value) {
    for warning in body["warnings"].as_array().into_iter().flatten() {
        eprintln!("warning: {}", warning.as_str().unwrap_or_default());
    }
}

/// Sends a policy file; prints the analysis warnings of the answer.
async fn submit_policy(
    args: &ClientArgs,
    method: reqwest::Method,
    path: &str,
    file: &Path,
    strict: bool,
) -> anyhow::Result<Value> {
    let path = format!("{path}{}", if strict { "?strict=true" } else { "" });
    let body: Value = call(args, method, &path, Some(Body::Raw(read_policy(file)?)))
        .await
        .with_context(|| format!("{} was refused", file.display()))?
        .json()
        .await?;
    print_warnings(&body);
    Ok(body)
}

/// `ossa policy set`.
pub async fn policy_set(args: &ClientArgs, file: &Path, tenant: &str, strict: bool) -> anyhow::Result<ExitCode> {
    let path = format!("/v1/tenants/{}/policy", url_encode(tenant));
    let body = submit_policy(args, reqwest::Method::PUT, &path, file, strict).await?;
    if args.json {
        out!("{body}");
    } else {
        let version = &body["version"];
        out!(
            "tenant {tenant}: policy version {} active ({} policies, sha256 {})",
            version["raft_index"],
            version["policy_ids"].as_array().map(Vec::len).unwrap_or(0),
            version["digest"].as_str().unwrap_or_default()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `ossa policy propose`.
pub async fn policy_propose(args: &ClientArgs, file: &Path, strict: bool) -> anyhow::Result<ExitCode> {
    let body = submit_policy(args, reqwest::Method::POST, "/v1/policy/proposals", file, strict).await?;
    if args.json {
        out!("{body}");
    } else {
        let proposal = &body["proposal"];
        out!(
            "proposal {} created ({}); approvals: {}",
            proposal["id"],
            proposal["status"].as_str().unwrap_or("?"),
            proposal["approvals"]
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `ossa federation revoke`.
pub async fn federation_revoke(args: &ClientArgs, org: &str, reason: &str) -> anyhow::Result<ExitCode> {
    let body = serde_json::json!({ "org": org, "reason": reason });
    governance_proposal(args, "/v1/governance/revocations", body, &format!("revocation of {org}")).await
}

/// `ossa federation promote` and `demote`.
pub async fn federation_set_role(args: &ClientArgs, org: &str, role: &str, force: bool) -> anyhow::Result<ExitCode> {
    let body = serde_json::json!({ "org": org, "role": role, "force": force });
    governance_proposal(args, "/v1/governance/role-changes", body, &format!("making {org} a {role}")).await
}

async fn governance_proposal(args: &ClientArgs, path: &str, body: Value, what: &str) -> anyhow::Result<ExitCode> {
    let answer: Value = call(args, reqwest::Method::POST, path, Some(Body::Json(body))).await?.json().await?;
    if args.json {
        out!("{answer}");
    } else {
        let proposal = &answer["proposal"];
        out!(
            "{what} proposed as proposal {} ({}); approvals: {}",
            proposal["id"],
            proposal["status"].as_str().unwrap_or("?"),
            proposal["approvals"]
        );
        out!("stewards approve it with `ossa federation approve {}`", proposal["id"]);
    }
    Ok(ExitCode::SUCCESS)
}

/// `ossa policy approve` and `ossa federation approve`.
pub async fn policy_approve(args: &ClientArgs, id: u64) -> anyhow::Result<ExitCode> {
    let body: Value =
        call(args, reqwest::Method::POST, &format!("/v1/policy/proposals/{id}/approve"), None).await?.json().await?;
    if args.json {
        out!("{body}");
    } else {
        let proposal = &body["proposal"];
        out!(
            "proposal {id} approved; now {} with approvals {}",
            proposal["status"].as_str().unwrap_or("?"),
            proposal["approvals"]
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `ossa policy list`.
pub async fn policy_list(args: &ClientArgs) -> anyhow::Result<ExitCode> {
    let body: Value = get_json(args, "/v1/policy").await?;
    if args.json {
        out!("{}", serde_json::to_string_pretty(&body)?);
        return Ok(ExitCode::SUCCESS);
    }
    let federation = &body["federation"];
    if federation.is_null() {
        out!("federation: no active set");
    } else {
        out!(
            "federation: version {} sha256 {} (by {})",
            federation["raft_index"],
            federation["digest"].as_str().unwrap_or_default(),
            federation["set_by"].as_str().unwrap_or_default()
        );
    }
    let mut rows = Vec::new();
    for (tenant, version) in body["tenants"].as_object().into_iter().flatten() {
        rows.push(vec![
            tenant.clone(),
            version["raft_index"].to_string(),
            version["policy_ids"].as_array().map(Vec::len).unwrap_or(0).to_string(),
        ]);
    }
    out!("");
    table::print(&["tenant", "version", "policies"], &rows);
    let mut rows = Vec::new();
    for proposal in body["proposals"].as_array().into_iter().flatten() {
        let approvals: Vec<&str> =
            proposal["approvals"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        let what = match proposal["action"].as_str() {
            Some("revoke") => format!("revoke {}", proposal["org"].as_str().unwrap_or_default()),
            Some("set_role") => format!(
                "make {} a {}",
                proposal["org"].as_str().unwrap_or_default(),
                proposal["role"].as_str().unwrap_or_default()
            ),
            _ => format!("policy set {:.12}", proposal["digest"].as_str().unwrap_or_default()),
        };
        rows.push(vec![
            proposal["id"].to_string(),
            what,
            proposal["status"].as_str().unwrap_or_default().to_owned(),
            proposal["proposer"].as_str().unwrap_or_default().to_owned(),
            format!("{}/{}", approvals.len(), body["quorum"]),
            approvals.join(","),
        ]);
    }
    out!("");
    table::print(&["proposal", "action", "status", "proposer", "approvals", "by"], &rows);
    Ok(ExitCode::SUCCESS)
}

/// `ossa authorize`.
pub async fn authorize(args: &ClientArgs, body: &crate::authz::AuthorizeBody) -> anyhow::Result<ExitCode> {
    let verdict: crate::authz::Verdict =
        call(args, reqwest::Method::POST, "/v1/authorize", Some(Body::Json(serde_json::to_value(body)?)))
            .await?
            .json()
            .await?;
    if args.json {
        out!("{}", serde_json::to_string_pretty(&verdict)?);
    } else {
        out!("{}", verdict.decision);
        for id in &verdict.deciding {
            out!("  {id}");
        }
        for reason in &verdict.reasons {
            out!("  ({reason})");
        }
    }
    Ok(ExitCode::SUCCESS)
}
