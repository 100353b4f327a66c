//! Seeding a new testnet with `--tenants T`: each tenant with a Cedar policy set and an agent.
//!
//! Tenant `tenant-i` belongs to org `i mod N` and is seeded through that org's node (the only
//! one allowed to): `POST /v1/tenants` creates it, `PUT /v1/tenants/tenant-i/policy` gives it
//! [`tenant_policy`], and `POST /v1/agents?tenant=tenant-i` registers [`agent_card`], which
//! the node signs and gossips. The three calls of one tenant run in order; up to
//! [`SEED_CONCURRENCY`] tenants are seeded at once, so their Raft writes share commits instead
//! of waiting for one fsync round each. The first failure stops the seeding and names the
//! tenant and the call; what was seeded before stays.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{bail, Context};
use futures::{StreamExt, TryStreamExt};

use super::{Progress, TestnetManifest};
use crate::config::NodeDir;

/// Tenants seeded at once.
const SEED_CONCURRENCY: usize = 32;
/// Deadline of one seeding call (a commit, or a registration).
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// The policy set of `tenant`, owned by `owner`: every member org may discover its agents,
/// only the owner may invoke or administer them.
fn tenant_policy(tenant: &str, owner: &str) -> String {
    format!(
        "@id(\"members-may-discover\")\n\
         permit(principal is Ossa::Org, action == Ossa::Action::\"discover\", resource in Ossa::Tenant::\"{tenant}\");\n\
         @id(\"owner-may-invoke\")\n\
         permit(principal == Ossa::Org::\"{owner}\", action in [Ossa::Action::\"invoke\", Ossa::Action::\"administer\"], \
         resource in Ossa::Tenant::\"{tenant}\");\n"
    )
}

/// The A2A v0.3 card of tenant number `i`'s agent: one skill, `capability-{i mod 10}`, so a
/// capability query finds a tenth of the seeded agents.
fn agent_card(i: usize) -> serde_json::Value {
    serde_json::json!({
        "protocolVersion": "0.3.0",
        "name": format!("Seed agent {i}"),
        "description": "An agent seeded by ossa testnet up --tenants.",
        "url": format!("https://agents.testnet.example/tenant-{i}/a2a"),
        "version": "1.0.0",
        "skills": [{ "id": format!("capability-{}", i % 10), "name": "Seeded skill", "tags": ["seeded"] }]
    })
}

/// Seeds `count` tenants over the nodes of `manifest`.
pub(super) async fn seed_tenants(
    client: &reqwest::Client,
    manifest: &TestnetManifest,
    count: usize,
    progress: Progress,
) -> anyhow::Result<()> {
    let tokens = manifest
        .nodes
        .iter()
        .map(|node| {
            let path = NodeDir::new(&node.dir).api_token();
            let token = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
            Ok(token.trim().to_owned())
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let seeded = AtomicUsize::new(0);
    futures::stream::iter(0..count)
        .map(|i| {
            let node = i % manifest.nodes.len();
            seed_tenant(client, &manifest.nodes[node].api, &tokens[node], &manifest.nodes[node].org, i)
        })
        .buffer_unordered(SEED_CONCURRENCY)
        .try_for_each(|()| {
            let done = seeded.fetch_add(1, Ordering::Relaxed) + 1;
            if done.is_multiple_of(100) || done == count {
                progress.line(format_args!("  {done}/{count} tenants seeded (policy set and one agent each)"));
            }
            futures::future::ready(Ok(()))
        })
        .await
}

/// Creates tenant number `i` through the node at `api` (of org `owner`), sets its policy and
/// registers its agent.
async fn seed_tenant(client: &reqwest::Client, api: &str, token: &str, owner: &str, i: usize) -> anyhow::Result<()> {
    let tenant = format!("tenant-{i}");
    let calls = [
        ("create", client.post(format!("{api}/v1/tenants")).json(&serde_json::json!({ "name": tenant }))),
        (
            "set the policy of",
            client.put(format!("{api}/v1/tenants/{tenant}/policy")).body(tenant_policy(&tenant, owner)),
        ),
        ("register the agent of", client.post(format!("{api}/v1/agents?tenant={tenant}")).json(&agent_card(i))),
    ];
    for (what, request) in calls {
        let response = request
            .bearer_auth(token)
            .timeout(CALL_TIMEOUT)
            .send()
            .await
            .with_context(|| format!("cannot {what} {tenant} on {owner}"))?;
        if !response.status().is_success() {
            bail!("cannot {what} {tenant} on {owner}: {}", response.text().await.unwrap_or_default());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agents::manifest::import;

    #[test]
    fn the_seed_policy_is_a_valid_tenant_policy_set() {
        let text = tenant_policy("tenant-7", "org3");
        let set = ossa_policy::validate_policy_set(&text).expect("valid Cedar against the schema");
        ossa_policy::check_tenant_scope(&set, "tenant-7").expect("scoped to its tenant");
        let other = ossa_policy::check_tenant_scope(&set, "tenant-8");
        assert!(other.is_err(), "another tenant's set must not take it");
    }

    #[test]
    fn the_seed_agent_card_imports_with_its_capability() {
        let bytes = serde_json::to_vec(&agent_card(13)).expect("json");
        let imported = import(&bytes, None).expect("the seed card imports");
        assert!(imported.capabilities.contains(&"capability-3".to_owned()), "{:?}", imported.capabilities);
    }
}
