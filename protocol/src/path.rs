//! File paths inside a manifest: relative, `/`-separated, and unable to escape the
//! directory a checkpoint is written into.

use crate::limits::MAX_PATH_LEN;

/// Why a manifest path was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PathError {
    /// The path is empty.
    #[error("empty file path")]
    Empty,
    /// The path is longer than the limit.
    #[error("file path is {0} bytes long, more than the limit of {MAX_PATH_LEN}")]
    TooLong(usize),
    /// The path starts with `/`.
    #[error("file path {0:?} is absolute; manifest paths must be relative")]
    Absolute(String),
    /// A component is empty, `.` or `..`.
    #[error("file path {0:?} has an empty, '.' or '..' component")]
    BadComponent(String),
    /// The path holds a backslash, a NUL or another control character.
    #[error("file path {0:?} holds a backslash or a control character")]
    BadCharacter(String),
}

/// Checks that `path` is a safe relative path: `/`-separated components, none of them
/// empty, `.` or `..`, no backslash or control character, at most [`MAX_PATH_LEN`] bytes.
/// Such a path joined onto an output directory always stays inside it.
pub fn check_relative_path(path: &str) -> Result<(), PathError> {
    if path.is_empty() {
        return Err(PathError::Empty);
    }
    if path.len() > MAX_PATH_LEN {
        return Err(PathError::TooLong(path.len()));
    }
    if path.starts_with('/') {
        return Err(PathError::Absolute(path.to_owned()));
    }
    if path.chars().any(|c| c == '\\' || c.is_control()) {
        return Err(PathError::BadCharacter(path.to_owned()));
    }
    if path
        .split('/')
        .any(|component| component.is_empty() || component == "." || component == "..")
    {
        return Err(PathError::BadComponent(path.to_owned()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_relative_paths() {
        for ok in ["model.safetensors", "a/b/c.json", "..hidden", "x..y/z"] {
            assert_eq!(check_relative_path(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn refuses_paths_that_could_escape() {
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a//b",
            "./a",
            "a/.",
            "a/",
            "a\\..\\b",
            "a\0b",
            "C:\\x",
        ] {
            assert!(check_relative_path(bad).is_err(), "{bad:?} accepted");
        }
        assert!(check_relative_path(&"a".repeat(MAX_PATH_LEN + 1)).is_err());
    }
}
