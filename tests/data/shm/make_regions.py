#!/usr/bin/env python3
"""make_regions: writes the hand-built SHM region files used by the shm tool tests.

Every byte is placed at the offsets of shm-tracking.md section 2 (not through allocsim's own
codec), so the tests compare allocsim against the spec. Run from this directory; it writes
good/ (valid regions with known contents) and ../../bad/shm/ (bad inputs with .expect files).
Dead pids are above Linux's largest pid_max (4194304), so they are never alive.
"""
import os
import struct

DEAD1, DEAD2 = 4194401, 4194402
LIVE = 1  # init: always alive


def v4(path, procs, totals, chips, num_active=None, init=0x52454459, version=4, size=8576):
    b = bytearray(size)
    struct.pack_into('<IIQI', b, 0, version, len(procs) if num_active is None else num_active, 1000, len(procs))
    struct.pack_into('<QQI', b, 24, 0, 7, 0)
    struct.pack_into('<5Q', b, 48, *totals)
    for i in range(16):
        struct.pack_into('<I', b, 88 + 48 * i, 0xFFFFFFFF)
    for i, (cid, ctrs) in enumerate(chips):
        struct.pack_into('<II5Q', b, 88 + 48 * i, cid, 0, *ctrs)
    for i, (pid, ctrs, name) in enumerate(procs):
        off = 856 + 120 * i
        struct.pack_into('<iI5QQ', b, off, pid, 0, *ctrs, 2000)
        b[off + 56:off + 56 + len(name)] = name
    if size >= 8540:
        struct.pack_into('<I', b, 8536, init)
    open(path, 'wb').write(b)


def l1k(path, procs, totals):
    b = bytearray(9280)
    struct.pack_into('<IIQI', b, 0, 1, len(procs), 1000, len(procs))
    struct.pack_into('<QQi', b, 24, 1834, 0, 0)
    struct.pack_into('<6Q', b, 48, *totals)
    struct.pack_into('<II6Q', b, 96, 0, 0, *totals)  # chip 0 (sentinel 0: device 0)
    for i, (pid, ctrs, name) in enumerate(procs):
        off = 992 + 128 * i
        struct.pack_into('<iI6QQ', b, off, pid, 0, *ctrs, 2000)
        b[off + 64:off + 64 + len(name)] = name
    open(path, 'wb').write(b)


os.makedirs('good', exist_ok=True)
# v4, two processes: one live (pid 1), one dead; totals = sum; chips = totals.
v4('good/tt_device_7_memory',
   [(LIVE, (4096, 2048, 0, 12503040, 0), b'python3'), (DEAD1, (8192, 0, 0, 0, 1024), b'pytest')],
   (12288, 2048, 0, 12503040, 1024), [(0, (12288, 2048, 0, 12503040, 1024))])
# v1-K (L1-K offsets: totals 48..95, chips at 96 stride 56, processes at 992 stride 128), one live process.
l1k('good/tt_device_469504_memory', [(LIVE, (1048576, 0, 0, 0, 0, 4096), b'llama')], (1048576, 0, 0, 0, 0, 4096))

bad = '../../bad/shm'
os.makedirs(bad, exist_ok=True)


def expect(name, why, error):
    open(os.path.join(bad, name + '.expect'), 'w').write('# %s\nerror ^allocsim shm check: @FILE@: %s$\n' % (why, error))


def raw(name, data, why, error):
    open(os.path.join(bad, name), 'wb').write(data)
    expect(name, why, error)


good4 = open('good/tt_device_7_memory', 'rb').read()
raw('tt_device_1_memory', b'', 'empty file', 'size 0: too short for any layout \\(smallest is 8576 bytes\\)')
raw('tt_device_2_memory', good4[:4000], 'v4 region cut at 4000 bytes', 'size 4000: too short for version 4')
b = bytearray(good4)
struct.pack_into('<I', b, 0, 9)
raw('tt_device_3_memory', bytes(b), 'unknown version 9', 'version 9 at offset 0: no known layout has it')
rnd = bytes((i * 7919 + 13) % 251 for i in range(8576))
raw('tt_device_4_memory', rnd, 'deterministic pseudo-random bytes',
    'version [0-9]+ at offset 0: no known layout has it')
raw('tt_device_5_memory', good4 + bytes(4096), 'a region of 12672 bytes', 'size 12672 bytes: larger than any layout \\(largest is 9280 bytes\\)')
os.makedirs(os.path.join(bad, 'tt_device_6_memory'), exist_ok=True)
open(os.path.join(bad, 'tt_device_6_memory', '.keep'), 'w').write('')
expect('tt_device_6_memory', 'a directory with a region name', 'not a regular file')
expect('tt_device_99_memory', 'a missing file', 'cannot open: No such file or directory')

# Planted violations (a canary for `shm check`): wrapped DRAM total, num_active 5 for 2 slots,
# one pid in two slots, init_state IN_PROGRESS, a chip slot's DRAM above the total.
os.makedirs('planted', exist_ok=True)
v4('planted/tt_device_8_memory',
   [(LIVE, (4096, 0, 0, 0, 0), b'a'), (LIVE, (0, 0, 0, 0, 0), b'b')],
   (2**64 - 4096, 0, 0, 0, 0), [(0, (1 << 40, 0, 0, 0, 0))], num_active=5, init=1)
