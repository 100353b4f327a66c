//! Bytes to a generic document tree: the syntax step of an import.
//!
//! The input must be UTF-8 text (a leading byte-order mark is skipped). Text whose first
//! non-blank character is `{`, or whose file name ends in `.json`, is read as JSON first
//! (serde_json, precise JSON messages); everything else, and JSON-looking text that is not
//! valid JSON, is read as YAML 1.2 (serde-saphyr), of which JSON is a subset. The file name
//! only picks which parser's message to show when both fail: the format itself is decided
//! later, from the fields ([`super::detect`]).

use serde_json::Value;

use super::error::ImportError;
use super::value::StrictValue;

/// Most aliases a YAML manifest may replay in total. Real manifests use a handful of anchors;
/// this stops a 256 KiB "billion laughs" document from expanding into millions of nodes.
const MAX_REPLAYED_ALIAS_EVENTS: usize = 16 * 1024;

/// Deepest nesting accepted in YAML. Manifests nest about six levels deep; a bound keeps a
/// hostile document from exhausting the stack (serde_json has its own limit of 128).
const MAX_YAML_DEPTH: usize = 64;

/// Parses manifest bytes into a generic tree, refusing duplicate keys.
pub(crate) fn parse(bytes: &[u8], file_name_hint: Option<&str>) -> Result<Value, ImportError> {
    let text = std::str::from_utf8(bytes).map_err(|e| ImportError::NotUtf8 { offset: e.valid_up_to() })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim().is_empty() {
        return Err(ImportError::Empty);
    }
    let hint_is_json = file_name_hint.is_some_and(|name| name.to_ascii_lowercase().ends_with(".json"));
    if hint_is_json || text.trim_start().starts_with('{') {
        match serde_json::from_str::<StrictValue>(text) {
            Ok(StrictValue(value)) => Ok(value),
            Err(json_error) => parse_yaml(text).map_err(|_| json_syntax(&json_error)),
        }
    } else {
        parse_yaml(text)
    }
}

/// Parses YAML 1.2 text into a generic tree.
fn parse_yaml(text: &str) -> Result<Value, ImportError> {
    let options = serde_saphyr::options! {
        // YAML 1.2 core schema: `yes`, `no`, `on`, `y` stay strings.
        strict_booleans: true,
        // A one-line message; the caller adds the file name.
        with_snippet: false,
        // `.inf` in a field we ignore must not fail the import.
        non_finite_float_policy: serde_saphyr::options::NonFiniteFloatPolicy::AsString,
        alias_limits: serde_saphyr::alias_limits! { max_total_replayed_events: MAX_REPLAYED_ALIAS_EVENTS },
        budget: serde_saphyr::budget! { max_depth: MAX_YAML_DEPTH },
    };
    match serde_saphyr::from_str_with_options::<StrictValue>(text, options) {
        Ok(StrictValue(value)) => Ok(value),
        Err(error) => {
            let location = error.location();
            Err(ImportError::Syntax {
                syntax: "YAML",
                line: location.map(|l| l.line()),
                column: location.map(|l| l.column()),
                message: strip_location(&error.to_string()),
            })
        }
    }
}

/// The import error for text that is not valid JSON.
fn json_syntax(error: &serde_json::Error) -> ImportError {
    ImportError::Syntax {
        syntax: "JSON",
        line: Some(error.line() as u64),
        column: Some(error.column() as u64),
        message: strip_location(&error.to_string()),
    }
}

/// Removes the parser's own " at line L, column C" suffix: the error carries the position.
fn strip_location(message: &str) -> String {
    let message = message.lines().next().unwrap_or(message);
    // serde-saphyr suggests one of its own options; that means nothing to a manifest author.
    let message = message.split(", set DuplicateKeyPolicy").next().unwrap_or(message);
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message.to_owned(),
    }
}
