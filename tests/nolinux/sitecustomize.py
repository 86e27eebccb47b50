"""Started with PYTHONPATH=tests/nolinux: the `os` functions only Linux has are removed, so a run shows whether
the engine would fail on macOS or Windows for calling one (tests/test_platforms.py)."""

import os

LINUX_ONLY = ("sched_getaffinity", "sched_setaffinity", "sched_getparam", "sched_setparam", "sched_getscheduler",
              "sched_setscheduler", "sched_rr_get_interval", "memfd_create", "pidfd_open", "eventfd",
              "eventfd_read", "eventfd_write", "splice", "copy_file_range", "posix_fadvise", "posix_fallocate",
              "getxattr", "setxattr", "listxattr", "removexattr", "pipe2")
for _name in LINUX_ONLY:
    if hasattr(os, _name):
        delattr(os, _name)
