/*
 * Stand-in for Apple's <os/activity.h> (see log.h next to it): tracing-oslog's shim includes it
 * but uses nothing from it in C; its Rust side declares the activity functions itself.
 */
#ifndef KEYWARDEN_OS_ACTIVITY_STUB_H
#define KEYWARDEN_OS_ACTIVITY_STUB_H
#endif
