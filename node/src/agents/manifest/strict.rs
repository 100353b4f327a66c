//! Strict validation, for certification: the manifest must import (everything registration
//! checks), and then hold every field its format requires, not only those the directory uses.
//!
//! Registration is lenient on purpose (an agent is listed from whatever describes it). A
//! steward certifies only a complete description, so [`validate_strict`] adds, per format:
//!
//! - every format: a description, a declared endpoint (the endpoint check probes it) and at
//!   least one capability;
//! - OSSA 0.1.x: `agent.role`;
//! - OSSA `ossa/v0.2`, `v0.3`, `v1`: `spec.role`;
//! - OSSA `ossa/v0.4`, `v0.5`: `metadata.version` (registration defaults it);
//! - A2A cards (v0.3, v1.0): `capabilities` (a mapping), non-empty `defaultInputModes` and
//!   `defaultOutputModes` (lists of media types), and for each skill `name`, `description`
//!   and `tags` (a list of strings);
//! - A2A v1.0 cards: `url`, `protocolBinding` and `protocolVersion` in every entry of
//!   `supportedInterfaces`.
//!
//! Every missing or mistyped field is reported, each with its path, not only the first.

use super::error::ImportError;
use super::fields::At;
use super::format::ManifestFormat;
use super::{import, parse, ImportedAgent};

/// Imports `bytes` and checks the fields the claimed format requires (see the module docs).
/// Returns the imported agent, or every problem found.
pub fn validate_strict(bytes: &[u8]) -> Result<ImportedAgent, Vec<ImportError>> {
    let agent = import(bytes, None).map_err(|e| vec![e])?;
    let tree = parse::parse(bytes, None).map_err(|e| vec![e])?;
    let root = At::root(&tree);
    let mut problems = Vec::new();
    let mut need = |result: Result<(), ImportError>| {
        if let Err(problem) = result {
            problems.push(problem);
        }
    };
    let (description, endpoint, capabilities) = match agent.format {
        ManifestFormat::Ossa019 => {
            need(root.require("agent").and_then(|a| string(&a, "role")));
            ("agent.description", "agent.endpoint", "agent.capabilities")
        }
        ManifestFormat::OssaV02 | ManifestFormat::OssaV03 | ManifestFormat::OssaV1 => {
            need(root.require("spec").and_then(|s| string(&s, "role")));
            ("metadata.description", "spec.endpoint", "spec.capabilities")
        }
        ManifestFormat::OssaV04 | ManifestFormat::OssaV05 => {
            need(root.require("metadata").and_then(|m| string(&m, "version")));
            ("metadata.description", "spec.protocols[].endpoint", "spec.capabilities")
        }
        ManifestFormat::A2aV03 | ManifestFormat::A2aV1 => {
            a2a_card(&root, agent.format, &mut need);
            ("description", "url", "skills")
        }
    };
    if agent.description.is_none() {
        problems.push(ImportError::MissingField { path: description.to_owned() });
    }
    if agent.endpoint.is_none() {
        problems.push(ImportError::MissingField { path: endpoint.to_owned() });
    }
    if agent.capabilities.is_empty() {
        problems.push(ImportError::InvalidValue {
            path: capabilities.to_owned(),
            reason: "declares no capability".to_owned(),
        });
    }
    if problems.is_empty() {
        Ok(agent)
    } else {
        Err(problems)
    }
}

/// The fields an A2A card of `format` requires beyond what import reads.
fn a2a_card(root: &At<'_>, format: ManifestFormat, need: &mut impl FnMut(Result<(), ImportError>)) {
    need(root.require("capabilities").and_then(|c| mapping(&c)));
    need(strings(root, "defaultInputModes"));
    need(strings(root, "defaultOutputModes"));
    match root.require("skills").and_then(|s| s.items()) {
        Ok(skills) => {
            for skill in skills {
                need(string(&skill, "name"));
                need(string(&skill, "description"));
                need(
                    skill.require("tags").and_then(|tags| tags.items()?.iter().try_for_each(|t| t.string().map(drop))),
                );
            }
        }
        Err(problem) => need(Err(problem)),
    }
    if format == ManifestFormat::A2aV1 {
        match root.require("supportedInterfaces").and_then(|i| i.items()) {
            Ok(interfaces) => {
                for interface in interfaces {
                    for key in ["url", "protocolBinding", "protocolVersion"] {
                        need(string(&interface, key));
                    }
                }
            }
            Err(problem) => need(Err(problem)),
        }
    }
}

/// The string field `key` of `at` is present.
fn string(at: &At<'_>, key: &str) -> Result<(), ImportError> {
    at.require_string(key).map(drop)
}

/// `at` is a mapping.
fn mapping(at: &At<'_>) -> Result<(), ImportError> {
    if at.value.is_object() {
        Ok(())
    } else {
        Err(at.wrong_type("a mapping"))
    }
}

/// The field `key` of `at` is a non-empty list of strings.
fn strings(at: &At<'_>, key: &str) -> Result<(), ImportError> {
    let list = at.require(key)?;
    let items = list.items()?;
    if items.is_empty() {
        return Err(ImportError::InvalidValue { path: list.path, reason: "must list at least one".to_owned() });
    }
    items.iter().try_for_each(|item| item.string().map(drop))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/manifests");

    fn problems(bytes: &[u8]) -> Vec<String> {
        match validate_strict(bytes) {
            Ok(_) => Vec::new(),
            Err(problems) => problems.iter().map(|p| p.path().unwrap_or("-").to_owned()).collect(),
        }
    }

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!("{FIXTURES}/{name}")).expect("fixture")
    }

    #[test]
    fn complete_fixtures_pass_and_incomplete_ones_name_every_missing_field() {
        for complete in [
            "a2a-0.3-travel-planner.json",
            "a2a-1.0-recipe-agent.json",
            "ossa-0.1.9-code-reviewer.yaml",
            "ossa-v0.2-invoice-triage.yaml",
            "ossa-v0.4-ticket-router.yaml",
            "ossa-v0.5-data-analyst.yaml",
        ] {
            assert_eq!(problems(&fixture(complete)), Vec::<String>::new(), "{complete}");
        }
        // Registered fine, but no endpoint to probe.
        assert_eq!(problems(&fixture("ossa-v1-support-bot.yaml")), ["spec.endpoint"]);
        // A v0.4 manifest without a version, role-less and capability-less.
        let bare = b"apiVersion: ossa/v0.4\nkind: Agent\nmetadata:\n  name: bare\n";
        assert_eq!(
            problems(bare),
            ["metadata.version", "metadata.description", "spec.protocols[].endpoint", "spec.capabilities"]
        );
        let legacy = b"ossaVersion: '0.1.9'\nagent: {id: a, name: A, version: '1', description: d, endpoint: 'http://x', capabilities: [c]}\n";
        assert_eq!(problems(legacy), ["agent.role"]);
    }

    #[test]
    fn an_a2a_card_missing_required_fields_reports_each_path() {
        let card = serde_json::json!({
            "name": "Echo",
            "version": "1.0.0",
            "url": "http://127.0.0.1:1/a2a",
            "defaultInputModes": [],
            "skills": [{ "id": "echo", "tags": ["echo"] }, { "id": "shout" }]
        });
        let found = problems(card.to_string().as_bytes());
        assert_eq!(
            found,
            [
                "capabilities",
                "defaultInputModes",
                "defaultOutputModes",
                "skills[0].name",
                "skills[0].description",
                "skills[1].name",
                "skills[1].description",
                "skills[1].tags",
                "description"
            ]
        );
        // A v1.0 card: every interface needs its binding and version.
        let v1 = serde_json::json!({
            "name": "Echo", "description": "Echoes.", "version": "1.0.0",
            "capabilities": {}, "defaultInputModes": ["text/plain"], "defaultOutputModes": ["text/plain"],
            "skills": [{ "id": "echo", "name": "Echo", "description": "Echoes.", "tags": ["echo"] }],
            "supportedInterfaces": [{ "url": "http://127.0.0.1:1/a2a", "protocolBinding": "JSONRPC" }]
        });
        assert_eq!(problems(v1.to_string().as_bytes()), ["supportedInterfaces[0].protocolVersion"]);
    }

    #[test]
    fn what_registration_refuses_is_refused_here_too() {
        let Err(problems) = validate_strict(b"apiVersion: ossa/v1\nkind: Agent\nspec: [not, a, map") else {
            panic!("a syntax error must be refused");
        };
        assert!(matches!(problems.as_slice(), [ImportError::Syntax { .. }]), "{problems:?}");
    }
}
