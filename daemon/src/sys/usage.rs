//! The daemon's view of itself: resident memory and CPU seconds, for `Daemon.ResidentMemoryBytes`
//! and `Daemon.CPUSeconds`.
//!
//! Why not `sysinfo` (on the design card): on macOS its process and system views link the
//! CoreFoundation and IOKit frameworks, which the zig linker used to build the macOS binary on
//! Linux cannot link without hand-made stubs (TOOLCHAIN.md), and Keywarden needs only its own
//! resident size and CPU time. `getrusage(2)` gives the CPU time everywhere; the current resident
//! size comes from `proc_pid_rusage` (libSystem) on macOS and `/proc/self/statm` on Linux. See
//! docs/building.md.

/// Resident memory in bytes (0 when the platform does not say).
pub fn resident_memory_bytes() -> u64 {
    imp::resident_memory_bytes()
}

/// User plus system CPU time of this process, in seconds.
pub fn cpu_seconds() -> f64 {
    match nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF) {
        Ok(u) => {
            let t = |tv: nix::sys::time::TimeVal| tv.tv_sec() as f64 + tv.tv_usec() as f64 / 1e6;
            t(u.user_time()) + t(u.system_time())
        }
        Err(_) => 0.0,
    }
}

#[cfg(target_os = "macos")]
mod imp {
    pub fn resident_memory_bytes() -> u64 {
        let mut info = std::mem::MaybeUninit::<libc::rusage_info_v2>::zeroed();
        // SAFETY: proc_pid_rusage fills a rusage_info_v2 for flavor RUSAGE_INFO_V2; the buffer is
        // large enough and zero-initialised; only read after a 0 return.
        let rc = unsafe {
            libc::proc_pid_rusage(
                libc::getpid(),
                libc::RUSAGE_INFO_V2,
                info.as_mut_ptr() as *mut libc::rusage_info_t,
            )
        };
        if rc == 0 {
            // SAFETY: initialised by the successful call above.
            unsafe { info.assume_init() }.ri_resident_size
        } else {
            0
        }
    }
}

#[cfg(not(target_os = "macos"))]
mod imp {
    pub fn resident_memory_bytes() -> u64 {
        // statm: size resident shared text lib data dt, in pages.
        let Ok(statm) = std::fs::read_to_string("/proc/self/statm") else {
            return 0;
        };
        let pages: u64 = statm
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let page = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
            .ok()
            .flatten()
            .unwrap_or(4096) as u64;
        pages * page
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_running_process_has_resident_memory_and_some_cpu_time() {
        assert!(super::resident_memory_bytes() > 0);
        let mut x = 0u64;
        for i in 0..2_000_000u64 {
            x = x.wrapping_add(i * i);
        }
        std::hint::black_box(x);
        assert!(super::cpu_seconds() > 0.0);
    }
}
