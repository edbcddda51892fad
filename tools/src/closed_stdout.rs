//! Quiet exits when stdout is closed early, as in `ostrom show ID | head`.
//!
//! Rust programs ignore SIGPIPE, so a write to a closed pipe fails with `BrokenPipe`:
//! `println!` panics and a checked write returns the error. Both end here in one quiet exit
//! with status [`STATUS`], the status a shell reports for a program that SIGPIPE stopped,
//! and nothing on stderr.

use std::io;

/// 128 + SIGPIPE (13): what shells report for `yes | head`'s `yes`.
pub const STATUS: u8 = 141;

/// Makes a panic from printing to a closed stdout exit quietly with [`STATUS`]; every
/// other panic is reported as before.
pub fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if is_broken_pipe_panic(message) {
            std::process::exit(i32::from(STATUS));
        }
        previous(info);
    }));
}

/// Whether a panic message is std's `println!` failing on a closed stdout.
fn is_broken_pipe_panic(message: &str) -> bool {
    message.starts_with("failed printing to stdout")
        && (message.contains("Broken pipe") || message.contains("os error 32"))
}

/// Whether `error` (or anything it wraps) is a write to a closed pipe.
pub fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_a_closed_stdout() {
        assert!(is_broken_pipe_panic(
            "failed printing to stdout: Broken pipe (os error 32)"
        ));
        assert!(!is_broken_pipe_panic(
            "failed printing to stdout: No space left on device (os error 28)"
        ));
        assert!(!is_broken_pipe_panic("index out of bounds"));
        let wrapped = anyhow::Error::from(io::Error::from(io::ErrorKind::BrokenPipe))
            .context("printing the list");
        assert!(is_broken_pipe(&wrapped));
        assert!(!is_broken_pipe(&anyhow::anyhow!("something else")));
    }
}
