//! `ossa org rotate`: replacing an org's node key, in two steps around the federation admin.
//!
//! 1. `ossa org rotate --dir D` makes the new key and its CSR in `D/rotation/` (the running
//!    node is not touched).
//! 2. Once the admin has issued a certificate for it, `ossa org rotate --dir D --cert C` hands
//!    the certificate to the running node (`POST /v1/org/rotate`, which commits the rotation),
//!    then installs the new key, CSR and certificate in `D`, moving the old ones to
//!    `D/retired/` under the old peer id. The node uses the new key from its next restart; the
//!    federation honours the old key until the grace period ends.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use ossa_trust::{create_csr, parse_org_cert_pem, NodeKey, MAX_PEM_BYTES};
use serde_json::Value;

use super::admin::{read_limited, write_private};
use super::client::{call, Body};
use super::ClientArgs;
use crate::admission::peer_id_of_key;
use crate::config::NodeDir;

/// The files of a rotation in progress, under `NODE_DIR/rotation/`.
struct Pending(PathBuf);

impl Pending {
    fn of(dir: &NodeDir) -> Self {
        Self(dir.path().join("rotation"))
    }
    fn key(&self) -> PathBuf {
        self.0.join("node.key")
    }
    fn csr(&self) -> PathBuf {
        self.0.join("org.csr")
    }
}

/// Step 1: the new key and its CSR.
pub fn prepare(dir: &NodeDir) -> anyhow::Result<ExitCode> {
    let pending = Pending::of(dir);
    let current = current_cert(dir)?;
    if pending.key().exists() {
        bail!(
            "a rotation is already prepared in {}; finish it with `ossa org rotate --dir {} --cert NEW_CERT` \
             or delete that directory to start over",
            pending.0.display(),
            dir.path().display()
        );
    }
    std::fs::create_dir_all(&pending.0).with_context(|| format!("cannot create {}", pending.0.display()))?;
    let key = NodeKey::generate();
    let peer_id = peer_id_of_key(&key.public_key()).context("generated key is not a valid ed25519 key")?;
    write_private(&pending.key(), key.to_pkcs8_pem().as_bytes())?;
    let csr = create_csr(&current.org, &key, &peer_id.to_string())?;
    std::fs::write(pending.csr(), csr).with_context(|| format!("cannot write {}", pending.csr().display()))?;
    out!("new key for org {:?} prepared in {}", current.org, pending.0.display());
    out!("  new peer id: {peer_id}");
    out!("  CSR:         {} (send it to the federation admin)", pending.csr().display());
    out!(
        "then run `ossa org rotate --dir {} --cert NEW_CERT` while the node is running, and restart the node",
        dir.path().display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Step 2: announce the new certificate to the node, then install the new files.
pub async fn finish(dir: &NodeDir, cert: &Path, grace_secs: u64, client: &ClientArgs) -> anyhow::Result<ExitCode> {
    let pending = Pending::of(dir);
    if !pending.key().exists() {
        bail!(
            "no rotation prepared in {}; run `ossa org rotate --dir {}` first",
            pending.0.display(),
            dir.path().display()
        );
    }
    let new_key = NodeKey::from_pkcs8_pem(&read_limited(&pending.key(), MAX_PEM_BYTES)?)
        .with_context(|| format!("{}", pending.key().display()))?;
    let cert_pem = read_limited(cert, MAX_PEM_BYTES)?;
    let new_cert = parse_org_cert_pem(&cert_pem).with_context(|| format!("{}", cert.display()))?;
    if new_cert.public_key != new_key.public_key() {
        bail!("{} was not issued for the key in {}", cert.display(), pending.key().display());
    }
    let old_peer = peer_id_of_key(&current_cert(dir)?.public_key).context("current certificate has no ed25519 key")?;

    let body = serde_json::json!({ "cert": cert_pem, "grace_ms": grace_secs * 1000 });
    let answer: Value =
        call(client, reqwest::Method::POST, "/v1/org/rotate", Some(Body::Json(body))).await?.json().await?;
    install(dir, &pending, &cert_pem, &old_peer.to_string())?;
    if client.json {
        out!("{answer}");
    } else {
        let rotation = &answer["rotation"];
        out!("key rotation committed for org {}", rotation["org"].as_str().unwrap_or("?"));
        out!("  old peer id: {} (honoured until {} ms)", old_peer, rotation["retire_at_ms"]);
        out!("  new peer id: {}", rotation["new_peer_id"].as_str().unwrap_or("?"));
        out!("  the old key and certificate are in {}", dir.path().join("retired").display());
        out!("restart the node now: it comes back on the new key");
    }
    Ok(ExitCode::SUCCESS)
}

/// Moves the old key, CSR and certificate to `retired/`, then the new ones into place.
fn install(dir: &NodeDir, pending: &Pending, cert_pem: &str, old_peer: &str) -> anyhow::Result<()> {
    let retired = dir.path().join("retired");
    std::fs::create_dir_all(&retired).with_context(|| format!("cannot create {}", retired.display()))?;
    let moves = [
        (dir.key(), retired.join(format!("node-{old_peer}.key"))),
        (dir.cert(), retired.join(format!("org-{old_peer}.pem"))),
        (dir.csr(), retired.join(format!("org-{old_peer}.csr"))),
        (pending.key(), dir.key()),
        (pending.csr(), dir.csr()),
    ];
    for (from, to) in moves {
        if from.exists() {
            std::fs::rename(&from, &to)
                .with_context(|| format!("cannot move {} to {}", from.display(), to.display()))?;
        }
    }
    std::fs::write(dir.cert(), cert_pem).with_context(|| format!("cannot write {}", dir.cert().display()))?;
    std::fs::remove_dir_all(&pending.0).with_context(|| format!("cannot remove {}", pending.0.display()))
}

fn current_cert(dir: &NodeDir) -> anyhow::Result<ossa_trust::OrgCertificate> {
    let pem = read_limited(&dir.cert(), MAX_PEM_BYTES)
        .context("the node has no org certificate yet; rotate a key only once the org is admitted")?;
    parse_org_cert_pem(&pem).with_context(|| format!("{}", dir.cert().display()))
}
