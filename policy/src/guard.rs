//! A pre-parse guard against policy text whose syntax tree would be too deep.
//!
//! Cedar's parser and the code that walks its syntax trees (validator, printer, evaluator)
//! recurse once per tree level. A small hostile text can make a very deep tree:
//! `((((...))))`, a long `a && b && ...` or `1 + 1 + ...` chain, `if .. else if ..` chains,
//! `a.b.c...` member chains. Measured on 4.14.1 (debug build, 2 MiB thread stack, the
//! default for tokio workers and test threads): about 350 chained `+` or 600 chained `&&`
//! overflow the stack, which aborts the process. So this scan runs on the raw text first and
//! refuses it when, outside string literals and `//` comments,
//!
//! - brackets (`(`, `[`, `{`) nest deeper than [`MAX_NESTING`], or
//! - one policy (text up to a `;`) has more than [`MAX_OPERATORS`] operators that build tree
//!   levels: `&&`, `||`, `+`, `-`, `*`, `.`, `if`.
//!
//! Both limits are far above what people write and together keep the tree depth several times
//! below the overflow point. The scan does not check syntax; the parser does that.

use crate::PolicyError;

/// Deepest bracket nesting accepted. Real policies nest a handful of levels
/// (`when { (a || (b && [c].contains(d))) }` is 4); 32 leaves room for generated policies.
pub const MAX_NESTING: usize = 32;

/// Most tree-building operators in one policy (see the module docs). A long realistic
/// condition has a few dozen; alternatives over many values belong in a set literal
/// (`["a", "b"].contains(context.capability)`), which is flat. 64 keeps the deepest possible
/// tree (this many levels plus [`MAX_NESTING`] brackets) about 4x below the measured overflow.
pub const MAX_OPERATORS: usize = 64;

/// Refuses `text` when it exceeds [`MAX_NESTING`] or [`MAX_OPERATORS`].
pub(crate) fn check_complexity(text: &str) -> Result<(), PolicyError> {
    let mut depth = 0usize;
    let mut deepest = 0usize;
    let mut operators = 0usize;
    let mut most_operators = 0usize;
    let mut word = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_alphanumeric() || c == '_' {
            word.push(c);
            continue;
        }
        if word == "if" {
            operators += 1;
        }
        word.clear();
        match c {
            '"' => skip_string(&mut chars),
            '/' if chars.peek() == Some(&'/') => {
                for s in chars.by_ref() {
                    if s == '\n' {
                        break;
                    }
                }
            }
            '(' | '[' | '{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            // `&&` and `||` are two characters; count the first of each pair.
            '&' | '|' => {
                if chars.peek() == Some(&c) {
                    chars.next();
                }
                operators += 1;
            }
            '+' | '-' | '*' | '.' => operators += 1,
            ';' => operators = 0,
            _ => {}
        }
        most_operators = most_operators.max(operators);
    }
    if word == "if" {
        most_operators = most_operators.max(operators + 1);
    }
    if deepest > MAX_NESTING {
        return Err(PolicyError::too_large("bracket nesting depth", deepest, MAX_NESTING));
    }
    if most_operators > MAX_OPERATORS {
        return Err(PolicyError::too_large("operators in one policy", most_operators, MAX_OPERATORS));
    }
    Ok(())
}

/// Skips a string literal whose opening quote was just read, honouring backslash escapes.
fn skip_string(chars: &mut impl Iterator<Item = char>) {
    while let Some(s) = chars.next() {
        match s {
            '\\' => {
                chars.next();
            }
            '"' => break,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_only_real_brackets() {
        assert!(check_complexity("permit(principal, action, resource) when { [1].contains((2)) };").is_ok());
        let deep = format!("{}1{}", "(".repeat(MAX_NESTING + 1), ")".repeat(MAX_NESTING + 1));
        assert!(
            matches!(check_complexity(&deep), Err(PolicyError::TooLarge { actual, .. }) if actual == MAX_NESTING + 1)
        );
        let quoted = format!("\"{}\\\"(\" // {}\n()", "(".repeat(100), "[".repeat(100));
        assert!(check_complexity(&quoted).is_ok());
    }

    #[test]
    fn counts_operators_per_policy() {
        let chain =
            |op: &str, n: usize| format!("permit(principal, action, resource) when {{ true{} }};", op.repeat(n));
        for op in [" && true", " || true", " + 1", " - 1", " * 1", ".a", " if true then 1 else 1"] {
            assert!(check_complexity(&chain(op, MAX_OPERATORS)).is_ok(), "{op}");
            let Err(PolicyError::TooLarge { what, actual, .. }) = check_complexity(&chain(op, MAX_OPERATORS + 1))
            else {
                panic!("{op} not counted")
            };
            assert_eq!((what.as_str(), actual), ("operators in one policy", MAX_OPERATORS + 1), "{op}");
        }
        // The count restarts with each policy; words that merely contain "if" do not count.
        let many = chain(" && true", MAX_OPERATORS).repeat(3);
        assert!(check_complexity(&many).is_ok());
        let words = format!("permit(principal, action, resource) when {{ {} }};", "diff || ".repeat(MAX_OPERATORS));
        assert!(check_complexity(&words).is_ok());
    }
}
