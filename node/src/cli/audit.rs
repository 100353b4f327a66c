//! `ossa audit ...`: download a node's log, checkpoints and proofs through its API, and verify
//! them offline.
//!
//! Offline verification trusts exactly the certificates it is given: `--cert` is the org
//! certificate of the log's node (its key must have signed the checkpoint), and each
//! `--witness-cert` is a peer org's certificate whose cosignature counts towards
//! `--min-cosigners`. Nothing is fetched from the network.

use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use ossa_audit::{Checkpoint, TlogProof, TrustedKey, MAX_NOTE_LEN};
use ossa_trust::{OrgCertificate, MAX_PEM_BYTES};

use super::admin::read_limited;
use super::client::call;
use super::ClientArgs;

/// `ossa audit` subcommands.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Download the node's audit log as JSON Lines.
    Export {
        /// File to write.
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Download the node's latest signed checkpoint (a C2SP signed note, with the witnesses'
    /// cosignature lines).
    Checkpoint {
        /// File to write.
        #[arg(long)]
        out: PathBuf,
        /// The latest checkpoint that at least this many witnesses cosigned.
        #[arg(long, default_value_t = 0)]
        min_cosigners: usize,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Verify an exported audit log offline: every entry, hash, chain link and the Merkle
    /// root; with --checkpoint, also that the log matches that signed checkpoint and is not
    /// cut short of it. Exits non-zero naming the first bad entry.
    Verify {
        /// The exported file.
        file: PathBuf,
        #[command(flatten)]
        trust: TrustArgs,
        /// A checkpoint of the log (from `ossa audit checkpoint` or GET /v1/audit/checkpoint).
        #[arg(long, requires = "cert")]
        checkpoint: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Write a one-file proof (C2SP tlog-proof) that entry INDEX is in the node's log: the
    /// entry, its inclusion hashes and the recent checkpoint with the most cosignatures.
    Prove {
        /// Index of the entry.
        index: u64,
        /// File to write.
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Verify a one-file proof offline against the log's org certificate (and witnesses').
    VerifyProof {
        /// The proof file (from `ossa audit prove`).
        file: PathBuf,
        #[command(flatten)]
        trust: TrustArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the equivocation evidence this node holds: orgs whose log signed two
    /// checkpoints that cannot both be true.
    Equivocations(ClientArgs),
}

/// Whose signatures an offline verification trusts.
#[derive(Debug, Args)]
pub struct TrustArgs {
    /// The org certificate of the log's node, whose key must have signed the checkpoint.
    #[arg(long)]
    cert: Option<PathBuf>,
    /// The org certificate of a witness whose cosignature counts (repeatable).
    #[arg(long = "witness-cert", value_name = "PEM")]
    witness_certs: Vec<PathBuf>,
    /// Refuse unless at least this many of the --witness-cert orgs cosigned the checkpoint.
    #[arg(long, default_value_t = 0)]
    min_cosigners: usize,
}

/// Runs an `ossa audit` subcommand.
pub async fn run(command: AuditCommand) -> anyhow::Result<ExitCode> {
    match command {
        AuditCommand::Export { out, client } => export(&client, &out).await,
        AuditCommand::Checkpoint { out, min_cosigners, client } => checkpoint(&client, &out, min_cosigners).await,
        AuditCommand::Verify { file, trust, checkpoint, json } => verify(&file, checkpoint.as_deref(), &trust, json),
        AuditCommand::Prove { index, out, client } => prove(&client, index, &out).await,
        AuditCommand::VerifyProof { file, trust, json } => verify_proof(&file, &trust, json),
        AuditCommand::Equivocations(client) => equivocations(&client).await,
    }
}

async fn export(args: &ClientArgs, out: &Path) -> anyhow::Result<ExitCode> {
    let bytes = call(args, reqwest::Method::GET, "/v1/audit/export", None).await?.bytes().await?;
    std::fs::write(out, &bytes).with_context(|| format!("cannot write {}", out.display()))?;
    let entries = bytes.iter().filter(|b| **b == b'\n').count().saturating_sub(1);
    if args.json {
        out!("{}", serde_json::json!({ "out": out, "entries": entries, "bytes": bytes.len() }));
    } else {
        out!("exported {entries} entries ({} bytes) to {}", bytes.len(), out.display());
    }
    Ok(ExitCode::SUCCESS)
}

async fn checkpoint(args: &ClientArgs, out: &Path, min_cosigners: usize) -> anyhow::Result<ExitCode> {
    let path = format!("/v1/audit/checkpoint?min_cosigners={min_cosigners}");
    let note = call(args, reqwest::Method::GET, &path, None).await?.text().await?;
    std::fs::write(out, &note).with_context(|| format!("cannot write {}", out.display()))?;
    let checkpoint = ossa_audit::parse_checkpoint(&note)?;
    let cosignatures = ossa_audit::parse_note(&note)?.signatures.len().saturating_sub(1);
    if args.json {
        out!(
            "{}",
            serde_json::json!({ "out": out, "origin": checkpoint.origin, "size": checkpoint.size,
                "cosignatures": cosignatures })
        );
    } else {
        out!(
            "checkpoint of {} at size {} ({cosignatures} cosignatures) written to {}",
            checkpoint.origin,
            checkpoint.size,
            out.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn prove(args: &ClientArgs, index: u64, out: &Path) -> anyhow::Result<ExitCode> {
    let text = call(args, reqwest::Method::GET, &format!("/v1/audit/prove?index={index}"), None).await?.text().await?;
    let proof = TlogProof::parse(&text).context("the node sent a malformed proof")?;
    let checkpoint = ossa_audit::parse_checkpoint(&proof.checkpoint_note)?;
    let cosignatures = ossa_audit::parse_note(&proof.checkpoint_note)?.signatures.len().saturating_sub(1);
    std::fs::write(out, &text).with_context(|| format!("cannot write {}", out.display()))?;
    if args.json {
        out!(
            "{}",
            serde_json::json!({ "out": out, "index": index, "origin": checkpoint.origin, "size": checkpoint.size,
                "cosignatures": cosignatures })
        );
    } else {
        out!(
            "proof of entry {index} in {} (checkpoint at size {}, {cosignatures} cosignatures) written to {}",
            checkpoint.origin,
            checkpoint.size,
            out.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn equivocations(args: &ClientArgs) -> anyhow::Result<ExitCode> {
    let body: Vec<crate::witness::evidence::Evidence> =
        call(args, reqwest::Method::GET, "/v1/audit/equivocations", None).await?.json().await?;
    if args.json {
        out!("{}", serde_json::to_string(&body)?);
    } else if body.is_empty() {
        out!("no equivocation seen");
    } else {
        let rows: Vec<Vec<String>> =
            body.iter().map(|e| vec![e.org.clone(), e.kind.clone(), e.confirmed_at_ms.to_string()]).collect();
        super::table::print(&["ORG", "KIND", "CONFIRMED_AT_MS"], &rows);
    }
    Ok(ExitCode::SUCCESS)
}

fn read_cert(path: &Path) -> anyhow::Result<OrgCertificate> {
    ossa_trust::parse_org_cert_pem(&read_limited(path, MAX_PEM_BYTES)?).with_context(|| format!("{}", path.display()))
}

fn trusted_key(cert: &OrgCertificate) -> TrustedKey {
    TrustedKey { name: crate::checkpoints::audit_origin(&cert.federation, &cert.org), public_key: cert.public_key }
}

impl TrustArgs {
    /// The log's key and the witnesses' keys; refuses witnesses of another federation.
    fn keys(&self) -> anyhow::Result<(Option<TrustedKey>, Vec<TrustedKey>)> {
        let log = self.cert.as_deref().map(read_cert).transpose()?;
        let mut witnesses = Vec::new();
        for path in &self.witness_certs {
            let cert = read_cert(path)?;
            if let Some(log) = &log {
                if cert.federation != log.federation {
                    bail!("{} is of federation {:?}, the log of {:?}", path.display(), cert.federation, log.federation);
                }
            }
            witnesses.push(trusted_key(&cert));
        }
        if self.min_cosigners > witnesses.len() {
            bail!("--min-cosigners {} needs at least as many --witness-cert files", self.min_cosigners);
        }
        Ok((log.as_ref().map(trusted_key), witnesses))
    }
}

/// Reads a checkpoint note and checks the log's signature and the witnesses' cosignatures.
fn trusted_checkpoint(note_path: &Path, trust: &TrustArgs) -> anyhow::Result<(Checkpoint, Vec<String>)> {
    let note = read_limited(note_path, MAX_NOTE_LEN)?;
    let (Some(log), witnesses) = trust.keys()? else { bail!("--checkpoint needs --cert") };
    let unverified = ossa_audit::parse_checkpoint(&note).with_context(|| format!("{}", note_path.display()))?;
    if unverified.origin != log.name {
        bail!(
            "{} is a checkpoint of {:?}, but the certificate belongs to {:?}",
            note_path.display(),
            unverified.origin,
            log.name
        );
    }
    let checkpoint = ossa_audit::verify_checkpoint(&note, &log.name, &log.public_key)
        .with_context(|| format!("{} is not signed by the key of the --cert org", note_path.display()))?;
    let cosigners = ossa_audit::tlog_proof::verified_cosigners(&note, &witnesses);
    if cosigners.len() < trust.min_cosigners {
        bail!(
            "{} trusted witness(es) cosigned {}, --min-cosigners is {}",
            cosigners.len(),
            note_path.display(),
            trust.min_cosigners
        );
    }
    Ok((checkpoint, cosigners))
}

/// `ossa audit verify`: checks an export offline, optionally against a signed checkpoint.
fn verify(file: &Path, checkpoint: Option<&Path>, trust: &TrustArgs, json: bool) -> anyhow::Result<ExitCode> {
    if checkpoint.is_none() && (trust.cert.is_some() || !trust.witness_certs.is_empty() || trust.min_cosigners > 0) {
        bail!("--cert, --witness-cert and --min-cosigners check a checkpoint: give it with --checkpoint");
    }
    let trusted = checkpoint.map(|note| trusted_checkpoint(note, trust)).transpose()?;
    let reader = BufReader::new(std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?);
    let outcome = match &trusted {
        Some((checkpoint, _)) => ossa_audit::verify_export_against(reader, checkpoint),
        None => ossa_audit::verify_export(reader),
    };
    match outcome {
        Ok(report) => {
            if json {
                let body = serde_json::json!({
                    "ok": true, "origin": report.origin, "entries": report.entries, "head": report.head,
                    "root": report.root, "checkpoint_size": trusted.as_ref().map(|(c, _)| c.size),
                    "cosigners": trusted.as_ref().map(|(_, w)| w),
                });
                out!("{body}");
            } else {
                out!("ok: {} entries from {}, root {}", report.entries, report.origin, report.root);
                if let Some((checkpoint, cosigners)) = &trusted {
                    out!("    matches the signed checkpoint at size {}", checkpoint.size);
                    if !cosigners.is_empty() {
                        out!("    cosigned by {}", cosigners.join(", "));
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(err) => {
            if json {
                out!(
                    "{}",
                    serde_json::json!({ "ok": false, "line": err.line, "entry": err.entry, "error": err.to_string() })
                );
            } else {
                eprintln!("FAILED: {err}");
            }
            Ok(ExitCode::FAILURE)
        }
    }
}

/// `ossa audit verify-proof`.
fn verify_proof(file: &Path, trust: &TrustArgs, json: bool) -> anyhow::Result<ExitCode> {
    let text = read_limited(file, ossa_audit::tlog_proof::MAX_PROOF_LEN)?;
    let (Some(log), witnesses) = trust.keys()? else { bail!("give the log's org certificate with --cert") };
    let outcome = TlogProof::parse(&text)
        .and_then(|proof| ossa_audit::verify_tlog_proof(&proof, &log, &witnesses, trust.min_cosigners));
    match outcome {
        Ok(proven) => {
            if json {
                out!(
                    "{}",
                    serde_json::json!({ "ok": true, "entry": proven.entry, "origin": proven.checkpoint.origin,
                        "size": proven.checkpoint.size, "cosigners": proven.cosigners })
                );
            } else {
                let entry = &proven.entry;
                out!(
                    "ok: entry {} ({} by {}) is in {}",
                    entry.index,
                    entry.kind,
                    entry.actor,
                    proven.checkpoint.origin
                );
                out!("    checkpoint at size {} signed by {}", proven.checkpoint.size, log.name);
                if !proven.cosigners.is_empty() {
                    out!("    cosigned by {}", proven.cosigners.join(", "));
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(err) => {
            if json {
                out!("{}", serde_json::json!({ "ok": false, "error": err.to_string() }));
            } else {
                eprintln!("FAILED: {err}");
            }
            Ok(ExitCode::FAILURE)
        }
    }
}
