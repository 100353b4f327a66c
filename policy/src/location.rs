//! Turns Cedar's diagnostics into one-line messages that start with `line:column`.
//!
//! Cedar reports where an error is as byte spans (miette labels) into the text it parsed. The
//! validator parses the user's own text, so those offsets map straight back to the file the
//! user submitted; this module does that mapping and appends Cedar's help text, if any.

use miette::Diagnostic;

/// 1-based line and column (in characters) of byte `offset` in `text`.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |newline| newline + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// `"<line>:<col>: <message>[ (<help>)]"` for one diagnostic about `text`.
///
/// The location is that of the diagnostic's first label; a diagnostic without a label is
/// reported without a location.
pub(crate) fn describe(text: &str, diagnostic: &(impl Diagnostic + ?Sized)) -> String {
    let location = diagnostic.labels().and_then(|mut labels| labels.next()).map(|label| line_col(text, label.offset()));
    let mut message = match location {
        Some((line, column)) => format!("{line}:{column}: {diagnostic}"),
        None => diagnostic.to_string(),
    };
    if let Some(help) = diagnostic.help() {
        message.push_str(&format!(" (help: {help})"));
    }
    message
}

#[cfg(test)]
mod tests {
    use super::line_col;

    #[test]
    fn maps_offsets_to_lines_and_columns() {
        let text = "ab\ncdé\nf";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 1), (1, 2));
        assert_eq!(line_col(text, 3), (2, 1));
        assert_eq!(line_col(text, 7), (2, 4)); // after the two-byte 'é'
        assert_eq!(line_col(text, 6), (2, 3)); // inside 'é': snaps back
        assert_eq!(line_col(text, 99), (3, 2));
    }
}
