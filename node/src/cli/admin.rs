//! File-based commands: the federation CA and org directories.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Context};
use ossa_trust::{create_csr, inspect_csr, FederationCa, NodeKey, Role, MAX_PEM_BYTES};

use libp2p::PeerId;

use crate::admission::peer_id_of_key;
use crate::config::{NodeConfig, NodeDir};

/// `ossa federation init`.
pub fn federation_init(name: &str, out: &Path) -> anyhow::Result<ExitCode> {
    let ca = FederationCa::create(name)?;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    ca.save(out)?;
    out!("federation {name:?} created");
    out!("  CA certificate: {}", out.join("ca.pem").display());
    out!("  CA key:         {} (keep it offline; it admits orgs)", out.join("ca.key").display());
    Ok(ExitCode::SUCCESS)
}

/// `ossa org init`: creates the node directory of a new org.
pub fn org_init(name: &str, dir: &NodeDir) -> anyhow::Result<ExitCode> {
    let peer_id = create_org(name, dir)?;
    out!("org {name:?} initialized in {}", dir.path().display());
    out!("  peer id: {peer_id}");
    out!("  CSR:     {} (send it to the federation admin)", dir.csr().display());
    Ok(ExitCode::SUCCESS)
}

/// Creates an org's node directory: key, CSR, API token and a default `node.toml`.
pub fn create_org(name: &str, dir: &NodeDir) -> anyhow::Result<PeerId> {
    ossa_trust::validate_org_name(name)?;
    if dir.key().exists() {
        bail!("{} exists already; refusing to replace an org's key", dir.key().display());
    }
    std::fs::create_dir_all(dir.path()).with_context(|| format!("cannot create {}", dir.path().display()))?;
    let key = NodeKey::generate();
    let peer_id = peer_id_of_key(&key.public_key()).context("generated key is not a valid ed25519 key")?;
    write_private(&dir.key(), key.to_pkcs8_pem().as_bytes())?;
    let csr = create_csr(name, &key, &peer_id.to_string())?;
    std::fs::write(dir.csr(), csr).with_context(|| format!("cannot write {}", dir.csr().display()))?;
    let token: [u8; 32] = rand::random();
    write_private(&dir.api_token(), format!("{}\n", hex::encode(token)).as_bytes())?;
    NodeConfig::default().save(&dir.config())?;
    Ok(peer_id)
}

/// `ossa federation admit`: signs a CSR after checking it binds the org to its own key.
pub fn federation_admit(ca_dir: &Path, csr: &Path, out: &Path, steward: bool, days: u32) -> anyhow::Result<ExitCode> {
    let ca = FederationCa::load(ca_dir)?;
    let role = if steward { Role::Steward } else { Role::Member };
    let org = admit_org(&ca, csr, out, role, days)?;
    out!("admitted org {org:?} as {role} for {days} days");
    out!("  certificate: {}", out.display());
    out!("  CA:          {}", ca_copy_path(out).display());
    Ok(ExitCode::SUCCESS)
}

fn ca_copy_path(cert_out: &Path) -> std::path::PathBuf {
    cert_out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")).join("ca.pem")
}

/// Signs the CSR at `csr` as `role` after checking it binds the org to its own key; writes
/// the certificate to `out` and the CA certificate beside it. Returns the org name.
pub fn admit_org(ca: &FederationCa, csr: &Path, out: &Path, role: Role, days: u32) -> anyhow::Result<String> {
    let csr_pem = read_limited(csr, MAX_PEM_BYTES)?;
    let info = inspect_csr(&csr_pem).with_context(|| format!("{}", csr.display()))?;
    let from_key = peer_id_of_key(&info.public_key).context("CSR key is not a valid ed25519 key")?;
    if from_key.to_string() != info.peer_id {
        bail!(
            "{}: the CSR names peer {} but its key belongs to peer {from_key}; refusing to sign",
            csr.display(),
            info.peer_id
        );
    }
    let cert = ca.admit(&csr_pem, role, days)?;
    std::fs::write(out, cert).with_context(|| format!("cannot write {}", out.display()))?;
    let ca_copy = ca_copy_path(out);
    std::fs::write(&ca_copy, ca.cert_pem()).with_context(|| format!("cannot write {}", ca_copy.display()))?;
    Ok(info.org)
}

pub(super) fn read_limited(path: &Path, limit: usize) -> anyhow::Result<String> {
    let len = std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?.len();
    if len > limit as u64 {
        bail!("{} is {len} bytes; the limit for this file is {limit}", path.display());
    }
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

pub(super) fn write_private(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(contents).with_context(|| format!("cannot write {}", path.display()))
}
