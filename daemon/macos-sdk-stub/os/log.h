/*
 * Stand-in for Apple's <os/log.h>, so that tracing-oslog's two-function C shim compiles when
 * the macOS binary is cross-linked on Linux with zig (no Xcode SDK there; see docs/building.md).
 * It declares only what the shim uses, with the same ABI as the SDK: the functions live in
 * libSystem (libsystem_trace) and are resolved at run time on a Mac. os_log_with_type mirrors the
 * SDK macro, using clang's __builtin_os_log_format to encode the argument buffer exactly as Apple's
 * compiler does.
 */
#ifndef KEYWARDEN_OS_LOG_STUB_H
#define KEYWARDEN_OS_LOG_STUB_H

#include <stdint.h>
#include <stdbool.h>

typedef struct os_log_s *os_log_t;
typedef uint8_t os_log_type_t;

#define OS_LOG_TYPE_DEFAULT ((os_log_type_t)0x00)
#define OS_LOG_TYPE_INFO ((os_log_type_t)0x01)
#define OS_LOG_TYPE_DEBUG ((os_log_type_t)0x02)
#define OS_LOG_TYPE_ERROR ((os_log_type_t)0x10)
#define OS_LOG_TYPE_FAULT ((os_log_type_t)0x11)

extern struct os_log_s _os_log_default;
#define OS_LOG_DEFAULT ((os_log_t)&_os_log_default)

extern void *__dso_handle;

os_log_t os_log_create(const char *subsystem, const char *category);
bool os_log_type_enabled(os_log_t oslog, os_log_type_t type);
void _os_log_impl(void *dso, os_log_t log, os_log_type_t type, const char *format, uint8_t *buf,
                  uint32_t size);

#define os_log_with_type(log, type, format, ...)                                                   \
    __extension__({                                                                                \
        os_log_t _kw_log = (log);                                                                  \
        os_log_type_t _kw_type = (type);                                                           \
        if (os_log_type_enabled(_kw_log, _kw_type)) {                                              \
            __attribute__((aligned(16))) uint8_t                                                   \
                _kw_buf[__builtin_os_log_format_buffer_size(format, ##__VA_ARGS__)];               \
            _os_log_impl(&__dso_handle, _kw_log, _kw_type, format,                                 \
                         (uint8_t *)__builtin_os_log_format(_kw_buf, format, ##__VA_ARGS__),       \
                         (uint32_t)sizeof(_kw_buf));                                               \
        }                                                                                          \
    })

#endif
