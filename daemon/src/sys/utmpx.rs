//! `com.apple.system.utmpx`: posted by the system when a login or logout changes the utmpx
//! database (notify(3), `<notify_keys.h>`), so a console-user change is seen at once rather
//! than at the next poll. The poll stays as the fallback. Not exercised on Linux CI: compiled
//! for the Apple targets only.

use std::os::fd::{FromRawFd, OwnedFd};

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

extern "C" {
    fn notify_register_file_descriptor(
        name: *const libc::c_char,
        notify_fd: *mut libc::c_int,
        flags: libc::c_int,
        out_token: *mut libc::c_int,
    ) -> u32;
}

pub struct UtmpxNotifications {
    fd: AsyncFd<OwnedFd>,
}

impl UtmpxNotifications {
    pub fn register() -> Option<UtmpxNotifications> {
        let mut fd: libc::c_int = -1;
        let mut token: libc::c_int = 0;
        // SAFETY: a NUL-terminated name and two out-pointers to live integers.
        let status = unsafe {
            notify_register_file_descriptor(
                c"com.apple.system.utmpx".as_ptr(),
                &mut fd,
                0,
                &mut token,
            )
        };
        if status != 0 || fd < 0 {
            return None;
        }
        // SAFETY: notify(3) handed us this descriptor; we own it from here on.
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: fcntl on a descriptor we own.
        unsafe {
            let flags = libc::fcntl(fd, libc::F_GETFL);
            libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
        }
        // SAFETY: `owned` is an open descriptor that the AsyncFd owns (and closes) for its
        // whole life; OwnedFd always returns that same descriptor.
        unsafe { AsyncFd::register_with_interest(owned, Interest::READABLE) }
            .ok()
            .map(|fd| UtmpxNotifications { fd })
    }
}

impl UtmpxNotifications {
    /// Wait for the next notification; `None` when the descriptor is closed.
    pub async fn recv(&mut self) -> Option<()> {
        loop {
            let mut guard = self.fd.readable().await.ok()?;
            // Each notification writes the 4-byte token; drain whatever is there.
            let mut buf = [0u8; 64];
            use std::os::fd::AsRawFd;
            // SAFETY: reading into a local buffer from a descriptor we own.
            let n = unsafe {
                libc::read(
                    self.fd.get_ref().as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                )
            };
            if n > 0 {
                return Some(());
            }
            guard.clear_ready();
            if n == 0 {
                return None;
            }
        }
    }
}
