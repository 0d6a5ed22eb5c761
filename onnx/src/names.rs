//! ONNX names made into `.tfg` identifiers, each used once.

use std::collections::HashSet;

/// The identifiers given out so far.
#[derive(Default)]
pub(crate) struct Names {
    used: HashSet<String>,
}

/// Every character outside `[A-Za-z0-9_]` becomes `_`; a leading digit (or
/// an empty name) gets a `_` before it.
pub(crate) fn identifier(name: &str) -> String {
    let mut s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() || s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert(0, '_');
    }
    s
}

impl Names {
    /// A fresh identifier for `name`: its [`identifier`], or, if that is
    /// taken or a keyword, the first free one of `_2`, `_3`, … after it.
    pub(crate) fn fresh(&mut self, name: &str) -> String {
        let base = identifier(name);
        let mut candidate = base.clone();
        let mut k = 2;
        while self.used.contains(&candidate) || tfg_frontend::parse::is_keyword(&candidate) {
            candidate = format!("{base}_{k}");
            k += 1;
        }
        self.used.insert(candidate.clone());
        candidate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_rule_and_stay_unique() {
        let mut n = Names::default();
        assert_eq!(n.fresh("input.1"), "input_1");
        assert_eq!(n.fresh("input:1"), "input_1_2");
        assert_eq!(n.fresh("0x"), "_0x");
        assert_eq!(n.fresh("input"), "input_2");
        assert_eq!(n.fresh(""), "_");
        assert_eq!(n.fresh("ok_name"), "ok_name");
    }
}
