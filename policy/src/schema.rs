//! The OSSA Cedar schema and the entity naming conventions built on it.
//!
//! The schema text lives in `ossa.cedarschema` next to this file and is compiled into the
//! binary, so every replica validates against byte-identical text. It is parsed once, on first
//! use, into a process-wide [`Schema`] that validation ([`crate::validate_policy_set`]) and
//! authorization ([`crate::Authorizer`]) borrow.
//!
//! Entity ids follow one convention everywhere (policies, requests, entity data):
//! `Ossa::Org::"<org>"`, `Ossa::Tenant::"<tenant>"` and `Ossa::Agent::"<tenant>/<agent-id>"`.
//! Tenant names cannot contain `/` ([`crate::validate_tenant_name`]), so the text before the
//! first `/` of an agent id always names the agent's tenant; tenant isolation relies on it.

use std::str::FromStr;
use std::sync::OnceLock;

use cedar_policy::{EntityId, EntityTypeName, EntityUid, Schema};

/// The schema source, as users read it (also shown in the README).
pub const SCHEMA_TEXT: &str = include_str!("ossa.cedarschema");

/// The Cedar namespace of every OSSA entity type and action.
pub const NAMESPACE: &str = "Ossa";

/// The parsed schema, shared by every caller in the process.
pub(crate) fn schema() -> &'static Schema {
    static SCHEMA: OnceLock<Schema> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        // The text is a compile-time constant covered by tests, so parsing cannot fail at run
        // time unless the file was broken in the source tree.
        Schema::from_cedarschema_str(SCHEMA_TEXT).map(|(schema, _warnings)| schema).expect("ossa.cedarschema is valid")
    })
}

/// The kinds of entity the schema declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub enum EntityKind {
    /// `Ossa::Org`: a member organization.
    Org,
    /// `Ossa::Tenant`: a tenant, child of its owning org.
    Tenant,
    /// `Ossa::Agent`: an agent, child of its tenant; id `<tenant>/<agent-id>`.
    Agent,
}

impl EntityKind {
    /// The unqualified Cedar type name (`Org`, `Tenant`, `Agent`).
    pub fn basename(self) -> &'static str {
        match self {
            EntityKind::Org => "Org",
            EntityKind::Tenant => "Tenant",
            EntityKind::Agent => "Agent",
        }
    }

    /// The kind of a Cedar type name, if it is one of the OSSA entity types.
    pub(crate) fn of(type_name: &EntityTypeName) -> Option<Self> {
        if type_name.namespace() != NAMESPACE {
            return None;
        }
        match type_name.basename() {
            "Org" => Some(EntityKind::Org),
            "Tenant" => Some(EntityKind::Tenant),
            "Agent" => Some(EntityKind::Agent),
            _ => None,
        }
    }

    /// The fully qualified Cedar type name.
    pub(crate) fn type_name(self) -> &'static EntityTypeName {
        static NAMES: OnceLock<[EntityTypeName; 3]> = OnceLock::new();
        let names = NAMES.get_or_init(|| {
            [EntityKind::Org, EntityKind::Tenant, EntityKind::Agent].map(|kind| {
                EntityTypeName::from_str(&format!("{NAMESPACE}::{}", kind.basename()))
                    .expect("OSSA type names are valid Cedar names")
            })
        });
        &names[self as usize]
    }
}

/// The four OSSA actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Find an agent (or a tenant's agents) in the directory.
    Discover,
    /// Call an agent.
    Invoke,
    /// Register an agent into a tenant.
    Register,
    /// Change a tenant.
    Administer,
}

impl Action {
    /// Every action, in schema order.
    pub const ALL: [Action; 4] = [Action::Discover, Action::Invoke, Action::Register, Action::Administer];

    /// The action's Cedar id (`discover`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Discover => "discover",
            Action::Invoke => "invoke",
            Action::Register => "register",
            Action::Administer => "administer",
        }
    }

    /// The action's entity uid, `Ossa::Action::"<name>"`.
    pub(crate) fn uid(self) -> &'static EntityUid {
        static UIDS: OnceLock<[EntityUid; 4]> = OnceLock::new();
        let uids = UIDS.get_or_init(|| {
            Action::ALL.map(|action| {
                let type_name = EntityTypeName::from_str(&format!("{NAMESPACE}::Action"))
                    .expect("Ossa::Action is a valid Cedar name");
                EntityUid::from_type_name_and_id(type_name, EntityId::new(action.as_str()))
            })
        });
        &uids[self as usize]
    }
}

impl FromStr for Action {
    type Err = crate::PolicyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Action::ALL
            .into_iter()
            .find(|action| action.as_str() == s)
            .ok_or_else(|| crate::PolicyError::Request { message: format!("unknown action {s:?}") })
    }
}

/// The tenant an agent id belongs to: the text before its first `/`, if any.
pub fn agent_tenant(agent_id: &str) -> Option<&str> {
    agent_id.split_once('/').map(|(tenant, _)| tenant)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_parses_and_declares_everything() {
        let schema = schema();
        let types: Vec<String> = schema.entity_types().map(ToString::to_string).collect();
        for kind in [EntityKind::Org, EntityKind::Tenant, EntityKind::Agent] {
            assert!(types.contains(&kind.type_name().to_string()), "{kind:?} in {types:?}");
            assert_eq!(EntityKind::of(kind.type_name()), Some(kind));
        }
        let actions: Vec<String> = schema.actions().map(ToString::to_string).collect();
        for action in Action::ALL {
            assert!(actions.contains(&action.uid().to_string()), "{action:?} in {actions:?}");
            assert_eq!(action.as_str().parse::<Action>().ok(), Some(action));
        }
        assert!("delete".parse::<Action>().is_err());
    }

    #[test]
    fn agent_ids_name_their_tenant() {
        assert_eq!(agent_tenant("acme/bot"), Some("acme"));
        assert_eq!(agent_tenant("acme/team/bot"), Some("acme"));
        assert_eq!(agent_tenant("bot"), None);
    }
}
