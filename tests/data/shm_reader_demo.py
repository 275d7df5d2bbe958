#!/usr/bin/env python3
"""A minimal SHM reader, like tt_smi_ui's shm_reader.py: lists /dev/shm/tt_device_*_memory,
maps each and prints its version and per-type totals (v2+ offsets: totals at 48..87; v1-K adds
kernel at 88). Run under `allocsim run ... --transport shm --reader "python3 THIS"`, the SHM
shim makes /dev/shm show the run's private directory: the files listed here are the run's."""
import glob, mmap, os, struct

paths = sorted(glob.glob("/dev/shm/tt_device_*_memory"))
print(f"regions: {len(paths)}")
for p in paths:
    fd = os.open(p, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        with mmap.mmap(fd, size, prot=mmap.PROT_READ) as m:
            version, active = struct.unpack_from("<II", m, 0)
            refs, = struct.unpack_from("<I", m, 16)
            dram, l1, l1s, trace, cb = struct.unpack_from("<5Q", m, 48)
    finally:
        os.close(fd)
    print(f"{os.path.basename(p)} size={size} version={version} active={active} refs={refs} "
          f"dram={dram} l1={l1} l1_small={l1s} trace={trace} cb={cb}")
if paths:
    # the way C readers (tt_smi) open a region: shm_open of the object name
    import _posixshmem
    fd = _posixshmem.shm_open("/" + os.path.basename(paths[0]), os.O_RDONLY, mode=0)
    print(f"shm_open {os.path.basename(paths[0])}: {os.fstat(fd).st_size} bytes")
    os.close(fd)
