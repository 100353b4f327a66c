//! Examples: one realistic fixture per format, and each way an import is refused.

use super::*;

/// Reads a fixture from `node/tests/fixtures/manifests/`.
macro_rules! fixture {
    ($name:literal) => {
        include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/manifests/", $name)).as_slice()
    };
}

fn caps(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

fn err(text: &str) -> ImportError {
    match import(text.as_bytes(), None) {
        Ok(agent) => panic!("imported {agent:?}"),
        Err(e) => e,
    }
}

#[test]
fn ossa_0_1_9_fixture() {
    let bytes = fixture!("ossa-0.1.9-code-reviewer.yaml");
    let agent = import(bytes, Some("ossa-0.1.9-code-reviewer.yaml")).expect("imports");
    assert_eq!(agent.format, ManifestFormat::Ossa019);
    assert_eq!(agent.id, "acme.code-reviewer");
    assert_eq!(agent.name, "Acme Code Reviewer");
    assert_eq!(agent.version, "2.3.1");
    assert!(agent.description.as_deref().is_some_and(|d| d.starts_with("Reviews pull requests")));
    assert_eq!(agent.capabilities, caps(&["code-review", "security-scan"]));
    assert_eq!(agent.endpoint.as_deref(), Some("https://agents.acme.example/code-reviewer"));
    assert_eq!(agent.protocol, "ossa");
    let expected: [u8; 32] = Sha256::digest(bytes).into();
    assert_eq!(agent.digest, expected);
}

#[test]
fn ossa_v0_2_fixture() {
    let agent = import(fixture!("ossa-v0.2-invoice-triage.yaml"), None).expect("imports");
    assert_eq!(agent.format, ManifestFormat::OssaV02);
    assert_eq!(agent.id, "invoice-triage");
    assert_eq!(agent.name, "invoice-triage");
    assert_eq!(agent.version, "1.4.0");
    assert_eq!(
        agent.capabilities,
        caps(&["anomaly-detection", "cost_center_lookup", "invoice-triage", "route_for_approval", "vendor_lookup"])
    );
    assert_eq!(agent.endpoint.as_deref(), Some("https://agents.globex.example/invoice-triage/v1"));
    assert_eq!(agent.protocol, "ossa");
}

#[test]
fn ossa_v1_fixture() {
    let agent = import(fixture!("ossa-v1-support-bot.yaml"), None).expect("imports");
    assert_eq!(agent.format, ManifestFormat::OssaV1);
    assert_eq!(agent.id, "support-bot");
    assert_eq!(agent.version, "0.9.0");
    assert_eq!(agent.description.as_deref(), Some("First-line customer support for the Initech helpdesk."));
    assert_eq!(agent.capabilities, caps(&["faq-answering", "knowledge-search", "ticket-creation"]));
    assert_eq!(agent.endpoint, None);
}

#[test]
fn ossa_v0_4_fixture_with_protocol_map() {
    let agent = import(fixture!("ossa-v0.4-ticket-router.yaml"), None).expect("imports");
    assert_eq!(agent.format, ManifestFormat::OssaV04);
    assert_eq!(agent.id, "ticket-router");
    assert_eq!(agent.version, "2.0");
    assert_eq!(agent.capabilities, caps(&["ticket-routing", "triage"]));
    assert_eq!(agent.endpoint.as_deref(), Some("https://router.stark.example/v2"));
    assert_eq!(agent.protocol, "http");
}

#[test]
fn ossa_v0_5_fixture() {
    let agent = import(fixture!("ossa-v0.5-data-analyst.yaml"), None).expect("imports");
    assert_eq!(agent.format, ManifestFormat::OssaV05);
    assert_eq!(agent.id, "data-analyst");
    assert_eq!(agent.version, "3.0.0-rc.1");
    assert_eq!(agent.capabilities, caps(&["chart-generation", "report-writing", "sql-query"]));
    // The first protocol with an endpoint wins; `mcp` has none.
    assert_eq!(agent.endpoint.as_deref(), Some("https://agents.umbrella.example/data-analyst/a2a"));
    assert_eq!(agent.protocol, "a2a");
}

#[test]
fn a2a_0_3_fixture() {
    let agent = import(fixture!("a2a-0.3-travel-planner.json"), Some("card.json")).expect("imports");
    assert_eq!(agent.format, ManifestFormat::A2aV03);
    assert_eq!(agent.id, "travel-planner");
    assert_eq!(agent.name, "Travel Planner");
    assert_eq!(agent.version, "1.2.0");
    assert_eq!(
        agent.capabilities,
        caps(&["flight-search", "flights", "itinerary", "itinerary-planning", "planning", "travel"])
    );
    assert_eq!(agent.endpoint.as_deref(), Some("https://travel.hooli.example/a2a/v1"));
    assert_eq!(agent.protocol, "a2a");
}

#[test]
fn a2a_1_0_fixture() {
    let agent = import(fixture!("a2a-1.0-recipe-agent.json"), None).expect("imports");
    assert_eq!(agent.format, ManifestFormat::A2aV1);
    assert_eq!(agent.id, "recipe-assistant");
    assert_eq!(agent.version, "4.0.2");
    assert_eq!(agent.capabilities, caps(&["cooking", "nutrition", "nutrition-facts", "recipe-suggestion", "recipes"]));
    assert_eq!(agent.endpoint.as_deref(), Some("https://recipes.piedpiper.example/a2a"));
}

#[test]
fn ossa_v0_3_and_minimal_v0_5() {
    let v03 = "apiVersion: ossa/v0.3.5\nkind: Agent\nmetadata: {name: m, version: 1.0.0}\nspec: {capabilities: [x]}\n";
    assert_eq!(import(v03.as_bytes(), None).map(|a| a.format), Ok(ManifestFormat::OssaV03));
    let v05 = import(b"apiVersion: ossa/v0.5\nkind: Agent\nmetadata:\n  name: test-agent\n", None).expect("imports");
    assert_eq!(v05.version, DEFAULT_VERSION);
    assert!(v05.capabilities.is_empty());
}

#[test]
fn a2a_explicit_id_wins_over_slug() {
    let card =
        r#"{"id": "hooli.travel", "name": "Travel Planner", "version": "1", "url": "https://t.example", "skills": []}"#;
    assert_eq!(import(card.as_bytes(), None).map(|a| a.id), Ok("hooli.travel".to_owned()));
}

#[test]
fn format_names_are_stable_and_round_trip() {
    let names: Vec<_> = ManifestFormat::ALL.iter().map(|f| f.as_str()).collect();
    assert_eq!(
        names,
        ["ossa/0.1.9", "ossa/v0.2", "ossa/v0.3", "ossa/v1", "ossa/v0.4", "ossa/v0.5", "a2a/0.3", "a2a/1.0"]
    );
    for format in ManifestFormat::ALL {
        assert_eq!(format.as_str().parse::<ManifestFormat>(), Ok(format));
    }
    assert!("ossa/v9".parse::<ManifestFormat>().is_err());
}

#[test]
fn oversized_is_refused_before_parsing() {
    let big = vec![b'#'; MAX_MANIFEST_BYTES + 1];
    assert_eq!(
        import(&big, None),
        Err(ImportError::TooLarge { size: MAX_MANIFEST_BYTES + 1, limit: MAX_MANIFEST_BYTES })
    );
    // Exactly at the limit is parsed (and refused for another reason: only a comment).
    let at_limit = vec![b'#'; MAX_MANIFEST_BYTES];
    assert!(!matches!(import(&at_limit, None), Err(ImportError::TooLarge { .. })));
}

#[test]
fn not_yaml_or_json_gives_position() {
    let e = err("ossaVersion: \"0.1.9\"\nagent:\n  id: x\n   name: [unclosed\n");
    let ImportError::Syntax { syntax: "YAML", line: Some(line), .. } = &e else { panic!("{e:?}") };
    assert!(*line >= 3, "{e}");
    assert!(e.to_string().contains("at line"), "{e}");

    let e = import(b"{\"name\": \"x\",\n \"skills\": [}", Some("card.json")).expect_err("refused");
    assert!(matches!(e, ImportError::Syntax { syntax: "JSON", line: Some(2), column: Some(_), .. }), "{e:?}");

    assert!(matches!(import(b"\xff\xfe\x00garbage", None), Err(ImportError::NotUtf8 { offset: 0 })));
    assert_eq!(import(b"  \n\t\n", None), Err(ImportError::Empty));
}

#[test]
fn duplicate_keys_are_refused_in_yaml_and_json() {
    assert!(matches!(err("ossaVersion: \"0.1.9\"\nagent: {id: a, id: b}\n"), ImportError::Syntax { .. }));
    let card = r#"{"name": "a", "name": "b", "version": "1", "url": "https://x.example", "skills": []}"#;
    assert!(matches!(err(card), ImportError::Syntax { syntax: "JSON", .. }));
}

#[test]
fn unknown_shapes_are_refused() {
    assert!(matches!(err("just: a mapping\nwith: fields\n"), ImportError::UnknownShape { .. }));
    assert!(matches!(err("- a\n- b\n"), ImportError::UnknownShape { .. }));
    assert!(matches!(err("42"), ImportError::UnknownShape { .. }));
    let e = err("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\n");
    assert_eq!(e.path(), Some("apiVersion"));
    let e = err("apiVersion: ossa/v0.5\nkind: Workflow\nmetadata: {name: x}\n");
    assert_eq!(e.path(), Some("kind"));
    assert!(e.to_string().contains("Workflow"), "{e}");
    let e = err("ossaVersion: \"0.2.0\"\nagent: {id: a, name: b, version: c}\n");
    assert_eq!(e.path(), Some("ossaVersion"));
}

#[test]
fn missing_id_is_named() {
    let e = err("ossaVersion: \"0.1.9\"\nagent:\n  name: Reviewer\n  version: 1.0.0\n");
    assert_eq!(e, ImportError::MissingField { path: "agent.id".to_owned() });
    assert_eq!(e.to_string(), "`agent.id` is missing (required)");
    let e = err("apiVersion: ossa/v0.2.3\nkind: Agent\nmetadata:\n  version: 1.0.0\nspec: {}\n");
    assert_eq!(e, ImportError::MissingField { path: "metadata.name".to_owned() });
    let e = err("apiVersion: ossa/v1\nkind: Agent\nmetadata:\n  name: x\nspec: {}\n");
    assert_eq!(e, ImportError::MissingField { path: "metadata.version".to_owned() });
    let e = err(r#"{"name": "x", "url": "https://x.example", "skills": []}"#);
    assert_eq!(e, ImportError::MissingField { path: "version".to_owned() });
    let e = err(r#"{"name": "x", "version": "1", "skills": []}"#);
    assert_eq!(e, ImportError::MissingField { path: "url".to_owned() });
}

#[test]
fn capabilities_of_wrong_type_name_the_path() {
    let manifest = "apiVersion: ossa/v0.2.3\nkind: Agent\nmetadata: {name: a, version: 1.0.0}\nspec:\n  tools:\n    - name: t0\n    - name: t1\n      capabilities: [ok]\n    - name: t2\n      capabilities:\n        - [nested, list]\n";
    let e = err(manifest);
    assert_eq!(e.path(), Some("spec.tools[2].capabilities[0]"));
    assert!(e.to_string().contains("spec.tools[2].capabilities[0]"), "{e}");

    let e = err("ossaVersion: \"0.1.9\"\nagent: {id: a, name: b, version: c, capabilities: code-review}\n");
    assert_eq!(e.path(), Some("agent.capabilities"));
    let e =
        err("ossaVersion: \"0.1.9\"\nagent: {id: a, name: b, version: c, capabilities: [{description: no name}]}\n");
    assert_eq!(e, ImportError::MissingField { path: "agent.capabilities[0].name".to_owned() });
    let e = err(r#"{"name": "x", "version": "1", "url": "https://x.example", "skills": [{"id": "s", "tags": "t"}]}"#);
    assert_eq!(e.path(), Some("skills[0].tags"));
    let e = err(r#"{"name": "x", "version": "1", "url": "https://x.example", "skills": [{"id": 7}]}"#);
    assert_eq!(e.path(), Some("skills[0].id"));
    assert!(e.to_string().contains("quote it"), "{e}");
}

#[test]
fn unquoted_numeric_version_is_refused_with_a_hint() {
    let e = err("ossaVersion: \"0.1.9\"\nagent: {id: a, name: b, version: 1.10}\n");
    assert_eq!(e.path(), Some("agent.version"));
    assert!(e.to_string().contains("quote it"), "{e}");
}

#[test]
fn bad_endpoints_are_refused() {
    for (endpoint, why) in
        [("ftp://files.example/agent", "http(s)"), ("not a url", "not a URL"), ("https://u:p@x.example", "credentials")]
    {
        let e =
            err(&format!("ossaVersion: \"0.1.9\"\nagent: {{id: a, name: b, version: '1', endpoint: '{endpoint}'}}\n"));
        assert_eq!(e.path(), Some("agent.endpoint"), "{endpoint}");
        assert!(e.to_string().contains(why), "{e}");
    }
    let e = err(r#"{"name": "x", "version": "1", "supportedInterfaces": [{"url": "grpc://x.example"}], "skills": []}"#);
    assert_eq!(e.path(), Some("supportedInterfaces[0].url"));
    let e = err(r#"{"name": "x", "version": "1", "supportedInterfaces": [], "skills": []}"#);
    assert_eq!(e.path(), Some("supportedInterfaces"));
}

#[test]
fn output_limits_are_enforced() {
    let e = err("ossaVersion: \"0.1.9\"\nagent: {id: 'has space', name: b, version: '1'}\n");
    assert_eq!(e.path(), Some("agent.id"));
    let e = err(r#"{"name": "日本語", "version": "1", "url": "https://x.example", "skills": []}"#);
    assert_eq!(e.path(), Some("name"));
    assert!(e.to_string().contains("add an `id`"), "{e}");
    let many: Vec<String> = (0..=MAX_CAPABILITIES).map(|i| format!("c{i}")).collect();
    let e = err(&format!(
        "ossaVersion: \"0.1.9\"\nagent: {{id: a, name: b, version: '1', capabilities: [{}]}}\n",
        many.join(", ")
    ));
    assert_eq!(e.path(), Some(format!("agent.capabilities[{MAX_CAPABILITIES}]").as_str()));
    let long = "x".repeat(MAX_CAPABILITY_LEN + 1);
    let e =
        err(&format!("ossaVersion: \"0.1.9\"\nagent: {{id: a, name: b, version: '1', capabilities: [ok, {long}]}}\n"));
    assert_eq!(e.path(), Some("agent.capabilities[1]"));
}

#[test]
fn yaml_1_2_scalars_stay_strings() {
    // In YAML 1.1 `y`, `no` and `on` are booleans; a capability named `on` must survive.
    let agent =
        import(b"ossaVersion: \"0.1.9\"\nagent: {id: a, name: b, version: '1', capabilities: [y, no, on]}\n", None)
            .expect("imports");
    assert_eq!(agent.capabilities, caps(&["no", "on", "y"]));
}

#[test]
fn alias_bombs_are_refused() {
    let mut doc = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..12 {
        let prev = format!("*a{}", i - 1);
        doc.push_str(&format!("a{i}: &a{i} [{}]\n", [prev.as_str(); 10].join(", ")));
    }
    doc.push_str("ossaVersion: \"0.1.9\"\nagent: {id: a, name: b, version: '1'}\n");
    assert!(matches!(import(doc.as_bytes(), None), Err(ImportError::Syntax { .. })));
}

#[test]
fn ossa_v0_5_protocol_entries() {
    let base =
        "apiVersion: ossa/v0.5\nkind: Agent\nmetadata: {name: p}\nspec:\n  endpoint: https://fallback.example/\n";
    let plain = import(format!("{base}  protocols: [mcp, {{type: grpc}}]\n").as_bytes(), None).expect("imports");
    assert_eq!((plain.protocol.as_str(), plain.endpoint.as_deref()), ("ossa", Some("https://fallback.example/")));
    let e = err(&format!("{base}  protocols:\n    - {{type: mcp}}\n    - {{type: a2a, endpoint: 42}}\n"));
    assert_eq!(e.path(), Some("spec.protocols[1].endpoint"));
    let e = err(&format!("{base}  protocols:\n    - {{endpoint: 'https://x.example'}}\n"));
    assert_eq!(e, ImportError::MissingField { path: "spec.protocols[0].name".to_owned() });
}
