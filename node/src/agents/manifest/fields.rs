//! Typed, path-aware reads from the generic document tree.
//!
//! Importers walk the tree through [`At`], which remembers where it is (`spec.tools[2]`),
//! so every "missing" or "wrong type" error names the field exactly. Fields the importers do
//! not ask for are never looked at: unknown fields are accepted, used ones are checked.

use serde_json::Value;

use super::error::ImportError;

/// A string read from the document together with the path it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Located {
    /// Where the value is, e.g. `agent.capabilities[1].name`.
    pub(crate) path: String,
    /// The value as written.
    pub(crate) value: String,
}

/// A position in the document tree: a value and the path that leads to it.
#[derive(Debug, Clone)]
pub(crate) struct At<'a> {
    /// The value at this position.
    pub(crate) value: &'a Value,
    /// The path of this position; empty at the top level.
    pub(crate) path: String,
}

impl<'a> At<'a> {
    /// The top of the document.
    pub(crate) fn root(value: &'a Value) -> Self {
        Self { value, path: String::new() }
    }

    /// The path to show for this position.
    pub(crate) fn display_path(&self) -> String {
        if self.path.is_empty() {
            "(top level)".to_owned()
        } else {
            self.path.clone()
        }
    }

    /// The path of `key` below this position.
    pub(crate) fn child_path(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    /// The field `key` of this mapping, if present and not null.
    pub(crate) fn get(&self, key: &str) -> Result<Option<At<'a>>, ImportError> {
        let map = self.value.as_object().ok_or_else(|| self.wrong_type("a mapping"))?;
        Ok(map.get(key).filter(|v| !v.is_null()).map(|value| At { value, path: self.child_path(key) }))
    }

    /// The field `key` of this mapping; an error if absent or null.
    pub(crate) fn require(&self, key: &str) -> Result<At<'a>, ImportError> {
        self.get(key)?.ok_or_else(|| ImportError::MissingField { path: self.child_path(key) })
    }

    /// This value as a string.
    pub(crate) fn string(&self) -> Result<Located, ImportError> {
        match self.value {
            Value::String(s) => Ok(Located { path: self.display_path(), value: s.clone() }),
            Value::Number(_) => Err(ImportError::InvalidValue {
                path: self.display_path(),
                reason: format!("must be a string, found the number {} (quote it)", self.value),
            }),
            _ => Err(self.wrong_type("a string")),
        }
    }

    /// The string field `key`; an error if absent or not a string.
    pub(crate) fn require_string(&self, key: &str) -> Result<Located, ImportError> {
        self.require(key)?.string()
    }

    /// The string field `key` if present; an error if present but not a string.
    pub(crate) fn optional_string(&self, key: &str) -> Result<Option<Located>, ImportError> {
        self.get(key)?.map(|node| node.string()).transpose()
    }

    /// The items of this sequence, each with its indexed path.
    pub(crate) fn items(&self) -> Result<Vec<At<'a>>, ImportError> {
        let items = self.value.as_array().ok_or_else(|| self.wrong_type("a list"))?;
        Ok(items.iter().enumerate().map(|(i, value)| At { value, path: format!("{}[{i}]", self.path) }).collect())
    }

    /// The error for a value of the wrong type at this position.
    pub(crate) fn wrong_type(&self, expected: &'static str) -> ImportError {
        ImportError::WrongType { path: self.display_path(), expected, found: kind_of(self.value) }
    }
}

/// A short name for the type of a value, for messages.
pub(crate) fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// Capability-like entries: a list whose items are strings or mappings with a string `name`.
///
/// Used for OSSA `capabilities` lists and `tools[].capabilities`.
pub(crate) fn named_list(node: &At<'_>) -> Result<Vec<Located>, ImportError> {
    node.items()?
        .iter()
        .map(|item| match item.value {
            Value::String(_) => item.string(),
            Value::Object(_) => item.require_string("name"),
            _ => Err(item.wrong_type("a string or a mapping with `name`")),
        })
        .collect()
}

/// Like [`named_list`], but a single string or a single `{name}` mapping is also accepted.
pub(crate) fn named_one_or_list(node: &At<'_>) -> Result<Vec<Located>, ImportError> {
    match node.value {
        Value::String(_) => Ok(vec![node.string()?]),
        Value::Object(_) => Ok(vec![node.require_string("name")?]),
        Value::Array(_) => named_list(node),
        _ => Err(node.wrong_type("a string, a mapping with `name`, or a list of them")),
    }
}
