//! An error with its causes on one line: the message of the error and of each error in its
//! `source()` chain, joined by ": ", each said once. `{:#}` on an `anyhow::Error` repeats a
//! cause that an error's own message already includes (as in "cannot bind X: in use: in
//! use"), and shows nothing for a wrapper whose message is empty.

use std::error::Error;

/// An error's message followed by each of its causes (its `source()` chain), joined by
/// ": ", leaving out empty messages and any already said (wrappers often repeat the
/// message of the error they wrap).
pub fn describe(error: &(dyn Error + 'static)) -> String {
    let mut text = String::new();
    let mut cause = Some(error);
    while let Some(error) = cause {
        let message = error.to_string();
        let message = message.trim();
        if !message.is_empty() && !text.contains(message) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(message);
        }
        cause = error.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Layer {
        message: &'static str,
        source: Option<Box<Layer>>,
    }

    impl std::fmt::Display for Layer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.message)
        }
    }

    impl Error for Layer {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            self.source.as_deref().map(|s| s as &(dyn Error + 'static))
        }
    }

    fn chain(messages: &[&'static str]) -> Layer {
        let mut layer: Option<Box<Layer>> = None;
        for message in messages.iter().rev() {
            layer = Some(Box::new(Layer {
                message,
                source: layer,
            }));
        }
        *layer.expect("at least one message")
    }

    #[test]
    fn empty_and_repeated_causes_are_left_out() {
        let error = chain(&["", "IO error: Address in use", "Address in use"]);
        assert_eq!(describe(&error), "IO error: Address in use");
        let error = chain(&["cannot bind", "", "permission denied"]);
        assert_eq!(describe(&error), "cannot bind: permission denied");
    }
}
