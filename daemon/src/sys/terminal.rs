//! Terminal echo off while a key is typed (nix termios), with the terminal restored on every way
//! out, Ctrl-C included: a signal handler puts the saved settings back and re-raises the signal.

use std::os::fd::AsFd as _;
use std::sync::OnceLock;

use nix::sys::signal::{self, SaFlags, SigAction, SigHandler, SigSet, Signal};
use nix::sys::termios::{self, LocalFlags, SetArg, Termios};

/// The terminal's settings before echo was turned off, as the plain C struct the signal
/// handler can hand to `tcsetattr(3)` (nix's `Termios` is not for use in a handler).
static SAVED: OnceLock<libc::termios> = OnceLock::new();
const SIGNALS: [Signal; 4] = [
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
];

/// Echo is off while this lives; dropping it restores the terminal and the signal actions.
pub struct Off {
    saved: Termios,
    previous: Vec<(Signal, SigAction)>,
}

/// Ctrl-C at the prompt must not leave the terminal without echo: restore it, then die of the
/// same signal (SA_RESETHAND put back the default action; the signal is blocked while this
/// runs, so the re-raised one is delivered on return).
extern "C" fn restore_and_reraise(sig: libc::c_int) {
    if let Some(t) = SAVED.get() {
        // SAFETY: tcsetattr is async-signal-safe (POSIX); `t` points to a valid termios.
        unsafe {
            libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, t);
        }
    }
    // SAFETY: raise is async-signal-safe.
    unsafe {
        libc::raise(sig);
    }
}

impl Off {
    pub fn new() -> Option<Off> {
        let stdin = std::io::stdin();
        let saved = termios::tcgetattr(stdin.as_fd()).ok()?;
        let _ = SAVED.set(libc::termios::from(saved.clone()));
        let action = SigAction::new(
            SigHandler::Handler(restore_and_reraise),
            SaFlags::SA_RESETHAND,
            SigSet::empty(),
        );
        let mut previous = Vec::new();
        for s in SIGNALS {
            // SAFETY: the handler calls only async-signal-safe functions.
            if let Ok(old) = unsafe { signal::sigaction(s, &action) } {
                previous.push((s, old));
            }
        }
        let mut quiet = saved.clone();
        let off = Off { saved, previous };
        quiet
            .local_flags
            .remove(LocalFlags::ECHO | LocalFlags::ECHOE | LocalFlags::ECHOK);
        // The Return key still shows as a new line.
        quiet.local_flags.insert(LocalFlags::ECHONL);
        // On failure `off` is dropped, which restores everything.
        termios::tcsetattr(stdin.as_fd(), SetArg::TCSAFLUSH, &quiet).ok()?;
        Some(off)
    }
}

impl Drop for Off {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, &self.saved);
        for (s, old) in self.previous.drain(..) {
            // SAFETY: puts back the action that was there before.
            let _ = unsafe { signal::sigaction(s, &old) };
        }
    }
}
