//! From submitted Cedar text to a [`ValidatedPolicySet`]: the only way policies enter OSSA.
//!
//! Flow: size check on the raw text -> nesting guard ([`crate::guard`]) -> Cedar parse ->
//! refuse templates, count the policies -> name each policy (its `@id("...")` annotation, else
//! Cedar's positional `policy<N>`) -> strict validation against the OSSA schema, reporting the
//! validator's messages with `line:column` in the submitted text -> canonical text -> re-parse
//! of the canonical text, which must print back to itself.
//!
//! The canonical text is each policy printed from its syntax tree by Cedar (so whitespace,
//! comments and the `when`/`unless` layout of the original do not matter), in source order,
//! each followed by one newline. It is what the registry should store and what
//! [`ValidatedPolicySet::digest`] hashes: any replica that validates the canonical text gets
//! the same set, the same ids and the same digest. Policy order is kept, not sorted, because
//! Cedar's positional ids depend on it; reordering policies changes the digest even though it
//! does not change any decision.

use std::str::FromStr;
use std::sync::OnceLock;

use cedar_policy::{Policy, PolicyId, PolicySet, ValidationMode, Validator};
use sha2::{Digest, Sha256};

use crate::location::describe;
use crate::schema::schema;
use crate::PolicyError;

/// Largest policy set text accepted, in bytes. 64 KiB holds hundreds of ordinary policies
/// (one is typically 100-300 bytes) while bounding the parse, validation and Raft entry cost of
/// a hostile submission.
pub const MAX_POLICY_SET_BYTES: usize = 64 * 1024;

/// Most policies in one set. Authorization evaluates every policy of the federation set and of
/// the tenant set, so this bounds the per-request work; real tenant sets have tens.
pub const MAX_POLICIES: usize = 256;

/// Longest `@id` accepted. Ids are printed in decisions and the audit log; 128 bytes is ample
/// for a descriptive name and keeps audit entries small.
pub const MAX_POLICY_ID_LEN: usize = 128;

/// A policy set that parsed, passed strict schema validation and has a canonical form.
///
/// Two sets are equal when their canonical texts are equal.
#[derive(Debug, Clone)]
pub struct ValidatedPolicySet {
    canonical: String,
    digest: [u8; 32],
    ids: Vec<String>,
    set: PolicySet,
    warnings: Vec<String>,
}

impl PartialEq for ValidatedPolicySet {
    fn eq(&self, other: &Self) -> bool {
        self.canonical == other.canonical
    }
}

impl Eq for ValidatedPolicySet {}

impl ValidatedPolicySet {
    /// The canonical text (see the module docs); store this, not the submitted text.
    pub fn canonical_text(&self) -> &str {
        &self.canonical
    }

    /// SHA-256 of [`Self::canonical_text`]; with the Raft index it names a policy version.
    pub fn digest(&self) -> [u8; 32] {
        self.digest
    }

    /// [`Self::digest`] as lowercase hex.
    pub fn digest_hex(&self) -> String {
        hex::encode(self.digest)
    }

    /// The policy ids, in source order.
    pub fn policy_ids(&self) -> &[String] {
        &self.ids
    }

    /// Number of policies.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// True for a set with no policies (which denies everything).
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The validator's warnings (e.g. a policy that can never match), located in the text
    /// that was validated; [`crate::analyze`] reports them.
    pub fn validator_warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The policies in source order, for the scope check and the analysis.
    pub(crate) fn policies(&self) -> impl Iterator<Item = &Policy> {
        self.ids.iter().filter_map(|id| self.set.policy(&PolicyId::new(id)))
    }

    /// The Cedar set evaluated by the authorizer.
    pub(crate) fn cedar(&self) -> &PolicySet {
        &self.set
    }
}

/// Parses `text`, validates it strictly against the OSSA schema and canonicalizes it.
///
/// Errors: [`PolicyError::TooLarge`] (text over [`MAX_POLICY_SET_BYTES`], more than
/// [`MAX_POLICIES`] policies, nesting or operators over [`crate::MAX_NESTING`] or [`crate::MAX_OPERATORS`]),
/// [`PolicyError::Parse`], [`PolicyError::Validation`] (both with `line:column`), and
/// [`PolicyError::Unsupported`] (templates, bad or duplicate `@id`).
pub fn validate_policy_set(text: &str) -> Result<ValidatedPolicySet, PolicyError> {
    if text.len() > MAX_POLICY_SET_BYTES {
        return Err(PolicyError::too_large("policy set text (bytes)", text.len(), MAX_POLICY_SET_BYTES));
    }
    crate::guard::check_complexity(text)?;
    let (set, ids) = parse_named(text)?;
    let warnings = strict_validate(text, &set)?;
    let canonical = canonical_text(&set, &ids)?;
    // The stored form must validate to itself on every replica; check it here, once.
    let (canonical_set, canonical_ids) = parse_named(&canonical)?;
    if canonical_ids != ids || canonical_text(&canonical_set, &ids)? != canonical {
        return Err(PolicyError::Unsupported {
            message: "the set does not survive Cedar's print/parse round trip; simplify the policies".to_string(),
        });
    }
    let digest = Sha256::digest(canonical.as_bytes()).into();
    Ok(ValidatedPolicySet { canonical, digest, ids, set: canonical_set, warnings })
}

/// Parses `text` into a set whose policies carry their OSSA ids; also returns the ids in
/// source order.
fn parse_named(text: &str) -> Result<(PolicySet, Vec<String>), PolicyError> {
    let parsed = PolicySet::from_str(text).map_err(|errors| PolicyError::Parse {
        message: errors.iter().map(|error| describe(text, error)).collect::<Vec<_>>().join("; "),
    })?;
    if parsed.num_of_templates() > 0 {
        return Err(PolicyError::Unsupported {
            message: "templates (?principal/?resource slots) are not supported".into(),
        });
    }
    let count = parsed.num_of_policies();
    if count > MAX_POLICIES {
        return Err(PolicyError::too_large("policy count", count, MAX_POLICIES));
    }
    let mut ordered: Vec<(usize, &Policy)> = Vec::with_capacity(count);
    for policy in parsed.policies() {
        ordered.push((positional_index(policy.id())?, policy));
    }
    ordered.sort_by_key(|(index, _)| *index);
    let mut set = PolicySet::new();
    let mut ids = Vec::with_capacity(count);
    for (_, policy) in ordered {
        let id = match policy.annotation("id") {
            Some(id) => checked_id(id)?,
            None => policy.id().to_string(),
        };
        set.add(policy.new_id(PolicyId::new(&id)))
            .map_err(|_| PolicyError::Unsupported { message: format!("policy id {id:?} is used twice") })?;
        ids.push(id);
    }
    Ok((set, ids))
}

/// The source position Cedar encodes in the default id `policy<N>`.
fn positional_index(id: &PolicyId) -> Result<usize, PolicyError> {
    id.to_string().strip_prefix("policy").and_then(|n| n.parse().ok()).ok_or_else(|| PolicyError::Unsupported {
        message: format!("unexpected Cedar policy id {id}; this Cedar version numbers policies differently"),
    })
}

/// An `@id` value, if it is short and uses only `[A-Za-z0-9_.:-]` (ids go into audit entries
/// and CLI output unescaped).
fn checked_id(id: &str) -> Result<String, PolicyError> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "_.:-".contains(c);
    if id.is_empty() || id.len() > MAX_POLICY_ID_LEN || !id.chars().all(allowed) {
        return Err(PolicyError::Unsupported {
            message: format!(
                "@id({id:?}) must be 1..={MAX_POLICY_ID_LEN} characters of letters, digits, '_', '.', ':' or '-'"
            ),
        });
    }
    Ok(id.to_string())
}

/// The validator over the OSSA schema, built once.
fn validator() -> &'static Validator {
    static VALIDATOR: OnceLock<Validator> = OnceLock::new();
    VALIDATOR.get_or_init(|| Validator::new(schema().clone()))
}

/// Strict validation; every error is reported, located in `text`. On success, returns the
/// validator's warnings. Messages are sorted and deduplicated: Cedar's order is not specified
/// and the same message must come out of every replica.
fn strict_validate(text: &str, set: &PolicySet) -> Result<Vec<String>, PolicyError> {
    let result = validator().validate(set, ValidationMode::Strict);
    let sorted = |messages: Vec<String>| {
        let mut messages = messages;
        messages.sort();
        messages.dedup();
        messages
    };
    if !result.validation_passed() {
        let messages = sorted(result.validation_errors().map(|error| describe(text, error)).collect());
        return Err(PolicyError::Validation { messages });
    }
    Ok(sorted(result.validation_warnings().map(|warning| describe(text, warning)).collect()))
}

/// Each policy printed from its syntax tree, in the order of `ids`, one per line.
fn canonical_text(set: &PolicySet, ids: &[String]) -> Result<String, PolicyError> {
    let mut out = String::new();
    for id in ids {
        let unprintable = || PolicyError::Unsupported { message: format!("policy {id} cannot be printed") };
        let policy = set.policy(&PolicyId::new(id)).ok_or_else(unprintable)?;
        // Through the JSON form, Cedar forgets the original text and prints from the tree.
        let printed = policy
            .to_json()
            .ok()
            .and_then(|json| Policy::from_json(Some(policy.id().clone()), json).ok())
            .and_then(|tree| tree.to_cedar())
            .ok_or_else(unprintable)?;
        out.push_str(&printed);
        out.push('\n');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
        @id("agents-invoke")
        permit(principal is Ossa::Agent, action == Ossa::Action::"invoke", resource in Ossa::Tenant::"acme")
        when { context.trust >= 500 && resource.capabilities.contains(context.capability) };

        forbid(principal, action, resource) when { context.caller_org == "mallory" };
    "#;

    #[test]
    fn accepts_a_valid_set_and_names_its_policies() {
        let set = validate_policy_set(GOOD).expect("valid");
        assert_eq!(set.policy_ids(), ["agents-invoke", "policy1"]);
        assert_eq!(set.len(), 2);
        assert_eq!(set.digest_hex().len(), 64);
    }

    #[test]
    fn canonical_text_is_a_fixed_point_and_ignores_layout() {
        let set = validate_policy_set(GOOD).expect("valid");
        let again = validate_policy_set(set.canonical_text()).expect("canonical re-validates");
        assert_eq!(again.canonical_text(), set.canonical_text());
        assert_eq!(again.digest(), set.digest());
        assert_eq!(again.policy_ids(), set.policy_ids());

        let squeezed = GOOD.split_whitespace().collect::<Vec<_>>().join(" ");
        let commented = format!("// a comment\n{GOOD}\n// trailing\n");
        for variant in [squeezed, commented] {
            assert_eq!(validate_policy_set(&variant).expect("valid").digest(), set.digest(), "{variant}");
        }
        let different = GOOD.replace("500", "501");
        assert_ne!(validate_policy_set(&different).expect("valid").digest(), set.digest());
    }

    #[test]
    fn syntax_errors_carry_line_and_column() {
        let text = "permit(principal, action, resource);\npermit(principal, action resource);";
        let Err(PolicyError::Parse { message }) = validate_policy_set(text) else { panic!("must not parse") };
        assert!(message.starts_with("2:"), "{message}");
    }

    #[test]
    fn unknown_entity_type_and_attribute_fail_strict_validation() {
        let text = "permit(principal, action, resource);\npermit(principal is Ossa::User, action, resource);";
        let Err(PolicyError::Validation { messages }) = validate_policy_set(text) else { panic!("must fail") };
        assert!(messages.iter().any(|m| m.starts_with("2:") && m.contains("Ossa::User")), "{messages:?}");

        let text = "permit(principal, action, resource is Ossa::Agent) when { resource.owner == \"x\" };";
        let Err(PolicyError::Validation { messages }) = validate_policy_set(text) else { panic!("must fail") };
        assert!(messages.iter().any(|m| m.starts_with("1:") && m.contains("owner")), "{messages:?}");

        // Strict mode: a context attribute that does not exist.
        let text = "permit(principal, action, resource) when { context.region == \"eu\" };";
        assert!(matches!(validate_policy_set(text), Err(PolicyError::Validation { .. })));
    }

    #[test]
    fn refuses_oversized_sets_templates_and_bad_ids() {
        let big = "permit(principal, action, resource);\n".repeat(MAX_POLICY_SET_BYTES / 30);
        assert!(matches!(validate_policy_set(&big), Err(PolicyError::TooLarge { .. })));
        let many = "permit(principal, action, resource);".repeat(MAX_POLICIES + 1);
        let Err(PolicyError::TooLarge { what, actual, .. }) = validate_policy_set(&many) else { panic!("too many") };
        assert_eq!((what.as_str(), actual), ("policy count", MAX_POLICIES + 1));
        let template = "permit(principal == ?principal, action, resource);";
        assert!(matches!(validate_policy_set(template), Err(PolicyError::Unsupported { .. })));
        let duplicate =
            "@id(\"a\") permit(principal, action, resource);\n@id(\"a\") forbid(principal, action, resource);";
        assert!(matches!(validate_policy_set(duplicate), Err(PolicyError::Unsupported { .. })));
        let bad_id = "@id(\"has space\") permit(principal, action, resource);";
        assert!(matches!(validate_policy_set(bad_id), Err(PolicyError::Unsupported { .. })));
    }

    #[test]
    fn readme_examples_validate() {
        let readme = include_str!("../README.md");
        let blocks: Vec<&str> =
            readme.split("```cedar").skip(1).filter_map(|block| block.split("```").next()).collect();
        assert_eq!(blocks.len(), 2);
        for block in blocks {
            let set = validate_policy_set(block).unwrap_or_else(|error| panic!("{error}"));
            assert!(crate::analyze(&set).is_empty(), "{block}");
        }
    }

    #[test]
    fn empty_set_is_valid_and_empty() {
        let set = validate_policy_set("// nothing yet\n").expect("valid");
        assert!(set.is_empty());
        assert_eq!(set.canonical_text(), "");
    }
}
