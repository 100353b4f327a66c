//! Why a manifest was refused: every variant says what is wrong and where.
//!
//! `path` fields name the offending field the way a person would point at it in the file,
//! e.g. `spec.tools[2].capabilities[0]`; syntax errors carry the parser's line and column.

use thiserror::Error;

/// A manifest could not be imported; nothing from it may be registered.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ImportError {
    /// The file is larger than [`super::MAX_MANIFEST_BYTES`]; it was not parsed.
    #[error("manifest is {size} bytes, over the limit of {limit} bytes")]
    TooLarge {
        /// Size of the input in bytes.
        size: usize,
        /// The limit it exceeded.
        limit: usize,
    },
    /// The file is empty or only whitespace.
    #[error("manifest is empty")]
    Empty,
    /// The file is not UTF-8 text.
    #[error("manifest is not UTF-8 text (invalid byte at offset {offset})")]
    NotUtf8 {
        /// Byte offset of the first invalid byte.
        offset: usize,
    },
    /// The text is neither valid YAML nor valid JSON.
    #[error("manifest is not valid {syntax}{}: {message}", at(*line, *column))]
    Syntax {
        /// Which syntax the message comes from: `"YAML"` or `"JSON"`.
        syntax: &'static str,
        /// 1-based line of the error, when the parser reports it.
        line: Option<u64>,
        /// 1-based column of the error, when the parser reports it.
        column: Option<u64>,
        /// The parser's message, without its position.
        message: String,
    },
    /// The document parsed but matches none of the supported manifest shapes.
    #[error("not a supported agent manifest: {reason}")]
    UnknownShape {
        /// What was looked for and not found.
        reason: String,
    },
    /// A field the importer needs is absent.
    #[error("`{path}` is missing (required)")]
    MissingField {
        /// Where the field was expected.
        path: String,
    },
    /// A field the importer uses has the wrong type.
    #[error("`{path}` must be {expected}, found {found}")]
    WrongType {
        /// The field.
        path: String,
        /// What the importer accepts there.
        expected: &'static str,
        /// What the document has there.
        found: &'static str,
    },
    /// A field has the right type but a value that is refused (bad version, id, URL, limit...).
    #[error("`{path}` is invalid: {reason}")]
    InvalidValue {
        /// The field.
        path: String,
        /// Why the value is refused.
        reason: String,
    },
}

impl ImportError {
    /// The path of the offending field, for errors that point at one.
    pub fn path(&self) -> Option<&str> {
        match self {
            Self::MissingField { path } | Self::WrongType { path, .. } | Self::InvalidValue { path, .. } => Some(path),
            _ => None,
        }
    }
}

/// Formats an optional parser position as ` at line L, column C`.
fn at(line: Option<u64>, column: Option<u64>) -> String {
    match (line, column) {
        (Some(line), Some(column)) => format!(" at line {line}, column {column}"),
        (Some(line), None) => format!(" at line {line}"),
        _ => String::new(),
    }
}
