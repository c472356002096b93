//! A one-shot OS timer registered with tokio's reactor: the thread sleeps in the reactor until it
//! fires, exactly once (timerfd on Linux, a kqueue `EVFILT_TIMER` on macOS). Where it cannot be
//! set up, tokio's sleep is used. tokio's own timer wheel wakes a 60-second sleep about three
//! times (it cascades through its levels), and an idle daemon must wake at most once a minute
//! (issue 7).

use std::time::Duration;

pub async fn sleep(d: Duration) {
    if imp::sleep(d).await.is_err() {
        tokio::time::sleep(d).await;
    }
}

#[cfg(target_os = "linux")]
mod imp {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::time::Duration;

    use tokio::io::unix::AsyncFd;
    use tokio::io::Interest;

    pub async fn sleep(d: Duration) -> Result<(), ()> {
        // CLOCK_BOOTTIME runs on while the machine is suspended, like the wall clock.
        // SAFETY: timerfd_create returns a new descriptor or -1.
        let raw = unsafe {
            libc::timerfd_create(libc::CLOCK_BOOTTIME, libc::TFD_NONBLOCK | libc::TFD_CLOEXEC)
        };
        if raw < 0 {
            return Err(());
        }
        // SAFETY: a descriptor we just created and own.
        let timer = unsafe { OwnedFd::from_raw_fd(raw) };
        let d = d.max(Duration::from_millis(1));
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                tv_sec: d.as_secs() as libc::time_t,
                tv_nsec: libc::c_long::from(d.subsec_nanos() as i32),
            },
        };
        // SAFETY: our timer descriptor, a valid itimerspec, no old value wanted.
        if unsafe { libc::timerfd_settime(timer.as_raw_fd(), 0, &spec, std::ptr::null_mut()) } < 0 {
            return Err(());
        }
        // SAFETY (register_with_interest): `timer` owns its descriptor for the AsyncFd's life.
        let fd = unsafe { AsyncFd::register_with_interest(timer, Interest::READABLE) }
            .map_err(|_| ())?;
        loop {
            let mut guard = fd.readable().await.map_err(|_| ())?;
            let mut buf = [0u8; 8];
            // SAFETY: reading the expiration count into a local buffer from our descriptor.
            let n = unsafe { libc::read(fd.get_ref().as_raw_fd(), buf.as_mut_ptr().cast(), 8) };
            if n == 8 {
                return Ok(());
            }
            guard.clear_ready();
        }
    }
}

#[cfg(target_os = "macos")]
mod imp {
    use std::os::fd::{AsRawFd, OwnedFd};
    use std::time::Duration;

    use tokio::io::unix::AsyncFd;
    use tokio::io::Interest;

    pub async fn sleep(d: Duration) -> Result<(), ()> {
        // SAFETY: kqueue(2) returns a new descriptor or -1.
        let kq = unsafe { libc::kqueue() };
        if kq < 0 {
            return Err(());
        }
        // SAFETY: a descriptor we just created and own.
        let kq: OwnedFd = unsafe { std::os::fd::FromRawFd::from_raw_fd(kq) };
        let ms = d.as_millis().clamp(1, i64::MAX as u128) as i64;
        let change = libc::kevent {
            ident: 1,
            filter: libc::EVFILT_TIMER,
            flags: libc::EV_ADD | libc::EV_ONESHOT,
            fflags: 0,
            data: ms as libc::intptr_t,
            udata: std::ptr::null_mut(),
        };
        // SAFETY: one change record, no event buffer, our kqueue descriptor.
        let rc = unsafe {
            libc::kevent(
                kq.as_raw_fd(),
                &change,
                1,
                std::ptr::null_mut(),
                0,
                std::ptr::null(),
            )
        };
        if rc < 0 {
            return Err(());
        }
        // A kqueue descriptor is readable while it has events pending.
        // SAFETY (register_with_interest): `kq` owns its descriptor for the AsyncFd's life.
        let fd =
            unsafe { AsyncFd::register_with_interest(kq, Interest::READABLE) }.map_err(|_| ())?;
        loop {
            let mut guard = fd.readable().await.map_err(|_| ())?;
            let mut out = std::mem::MaybeUninit::<libc::kevent>::zeroed();
            let zero = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            // SAFETY: room for one event; a zero timeout never blocks.
            let n = unsafe {
                libc::kevent(
                    fd.get_ref().as_raw_fd(),
                    std::ptr::null(),
                    0,
                    out.as_mut_ptr(),
                    1,
                    &zero,
                )
            };
            if n > 0 {
                return Ok(());
            }
            guard.clear_ready();
        }
    }
}

#[cfg(not(any(target_os = "linux", target_os = "macos")))]
mod imp {
    pub async fn sleep(_d: std::time::Duration) -> Result<(), ()> {
        Err(())
    }
}
