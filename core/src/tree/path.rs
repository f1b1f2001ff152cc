//! Znode path rules, exactly as ZooKeeper's `PathUtils.validatePath` applies them.
//!
//! ZooKeeper checks UTF-16 code units; a Rust `char` above U+FFFF is a surrogate pair there, and
//! surrogates are forbidden, so such characters are refused here too.

use core::fmt;

/// Why a path is not a valid znode path. Every variant maps to `BadArguments` on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathError {
    Empty,
    NotAbsolute,
    TrailingSlash,
    EmptyComponent,
    /// A "." or ".." component.
    Relative,
    NullChar,
    InvalidChar(char),
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathError::Empty => f.write_str("path length must be > 0"),
            PathError::NotAbsolute => f.write_str("path must start with / character"),
            PathError::TrailingSlash => f.write_str("path must not end with / character"),
            PathError::EmptyComponent => f.write_str("empty node name specified"),
            PathError::Relative => f.write_str("relative paths not allowed"),
            PathError::NullChar => f.write_str("null character not allowed"),
            PathError::InvalidChar(c) => write!(f, "invalid character U+{:04X}", *c as u32),
        }
    }
}

/// Checks `path` against ZooKeeper's rules.
pub fn validate_path(path: &str) -> Result<(), PathError> {
    let rest = match path.strip_prefix('/') {
        Some(rest) => rest,
        None if path.is_empty() => return Err(PathError::Empty),
        None => return Err(PathError::NotAbsolute),
    };
    if rest.is_empty() {
        return Ok(());
    }
    if rest.ends_with('/') {
        return Err(PathError::TrailingSlash);
    }
    for component in rest.split('/') {
        match component {
            "" => return Err(PathError::EmptyComponent),
            "." | ".." => return Err(PathError::Relative),
            _ => {}
        }
        for c in component.chars() {
            if c == '\0' {
                return Err(PathError::NullChar);
            }
            if is_forbidden_char(c) {
                return Err(PathError::InvalidChar(c));
            }
        }
    }
    Ok(())
}

fn is_forbidden_char(c: char) -> bool {
    matches!(c as u32, 0x01..=0x1F | 0x7F..=0x9F | 0xD800..=0xF8FF | 0xFFF0..)
}

/// Splits a valid non-root path into (parent, last component): "/a/b" gives ("/a", "b"),
/// "/a" gives ("/", "a"). Returns `None` for the root or a path without a slash.
pub fn split_parent(path: &str) -> Option<(&str, &str)> {
    let slash = path.rfind('/')?;
    let name = path.get(slash + 1..)?;
    if name.is_empty() && slash == 0 {
        return None;
    }
    let parent = if slash == 0 { "/" } else { path.get(..slash)? };
    Some((parent, name))
}

/// The components of a valid path; the root has none.
pub fn components(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|c| !c.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_what_zookeeper_accepts() {
        for ok in ["/", "/a", "/a/b", "/a.b", "/...", "/a/..b", "/a/b.", "/a b", "/é", "/\u{ffef}"] {
            assert_eq!(validate_path(ok), Ok(()), "{ok:?}");
        }
    }

    #[test]
    fn refuses_what_zookeeper_refuses() {
        let cases = [
            ("", PathError::Empty),
            ("a", PathError::NotAbsolute),
            ("/a/", PathError::TrailingSlash),
            ("//", PathError::TrailingSlash),
            ("/a//b", PathError::EmptyComponent),
            ("/.", PathError::Relative),
            ("/a/./b", PathError::Relative),
            ("/a/..", PathError::Relative),
            ("/a\0b", PathError::NullChar),
            ("/a\u{1}", PathError::InvalidChar('\u{1}')),
            ("/a\u{7f}", PathError::InvalidChar('\u{7f}')),
            ("/\u{e000}", PathError::InvalidChar('\u{e000}')),
            ("/\u{fff0}", PathError::InvalidChar('\u{fff0}')),
            ("/\u{1f600}", PathError::InvalidChar('\u{1f600}')),
        ];
        for (path, err) in cases {
            assert_eq!(validate_path(path), Err(err), "{path:?}");
        }
    }

    #[test]
    fn splits_parent_and_name() {
        assert_eq!(split_parent("/a"), Some(("/", "a")));
        assert_eq!(split_parent("/a/b/c"), Some(("/a/b", "c")));
        assert_eq!(split_parent("/"), None);
        assert_eq!(split_parent("abc"), None);
        assert_eq!(components("/a/b").collect::<alloc::vec::Vec<_>>(), ["a", "b"]);
        assert_eq!(components("/").count(), 0);
    }
}
