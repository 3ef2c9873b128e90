#!/usr/bin/env python3
"""Write the dispatch target's seed corpus (tests/fuzz/corpus/dispatch).

Each seed is one scenario a VMM or a test plays, in fuzz_dispatch.c's input
format (its header comment): the policy's index among the shipped policies
sorted by name, then records.  Run it again after changing that format or
the shipped policies:  tests/fuzz/dispatch_seeds.py tests/fuzz/corpus/dispatch
"""
import os
import struct
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
POLICIES = sorted(f for f in os.listdir(os.path.join(ROOT, "policies")) if f.endswith(".yaml"))
MEM_SIZE = 3 * 4096

RV, CE_NEG, CE_2021 = 0x4004B800, 0x4004B801, 0x4004B800
CREATE_VTL, CREATE_PARTITION, CREATE_PARTITION_2020 = 0x8001B81D, 0x4010B800, 0x4020B801
GET_HOST_PROPERTY, ROOT_HVCALL = 0xC010B801, 0xC020B807
INITIALIZE_PARTITION, CREATE_VP, RUN_VP = 0xB800, 0x4004B801, 0x8100B800
NONE, MEMORY, FDS, FDS_FULL = 0, 1, 2, 3
GET, SET, GET_EX = 0x44, 0x45, 0x101
VMM_CAPABILITIES, SYNTHETIC_PROC_FEATURES, PHYSICAL_ADDRESS_WIDTH = 0x90007, 0x10001, 0x60006


def size_of(cmd):
    return (cmd >> 16) & 0x3FFF


class Seed:
    def __init__(self, policy):
        self.data = bytes([POLICIES.index(policy)])

    def open(self, interrupted=False):
        self.data += bytes([0, int(interrupted)])
        return self

    def close(self, fd):
        self.data += bytes([2, fd])
        return self

    def poke(self, offset, payload):
        self.data += bytes([11]) + struct.pack("<HB", offset, len(payload)) + payload
        return self

    def reload(self, policy):
        self.data += bytes([0xFF, POLICIES.index(policy)])
        return self

    def ioctl(self, fd, cmd, arg=b"", mode=NONE, pointers=(), at=0x2000, value=0,
              cuse=False, interrupted=False):
        """POINTERS: (u64 field index, offset in the caller's memory)."""
        size = size_of(cmd)
        how = mode | (8 if interrupted else 0)
        rec = bytes([9 if cuse else 4, fd, 0xF0]) + struct.pack("<I", cmd) + bytes([how])
        rec += arg.ljust(min(size, 64), b"\0")[: min(size, 64)]
        mask = 0
        for field, _ in pointers:
            mask |= 1 << field
        rec += bytes([mask])
        for field, offset in sorted(pointers):
            rec += struct.pack("<H", offset)
        if size <= MEM_SIZE:
            rec += struct.pack("<H", at)
        rec += struct.pack("<Q", value)
        self.data += rec
        return self

    def u32(self, fd, cmd, n, **kw):
        return self.ioctl(fd, cmd, struct.pack("<I", n), **kw)

    def hvcall(self, fd, code, payload, out_sz, cuse=False, mode=MEMORY, reps=0):
        """A hypercall: PAYLOAD at 0x100, output at 0x1000, header at 0x2000."""
        self.poke(0x100, payload)
        header = struct.pack("<HHHHH6x", code, reps, len(payload), out_sz, 0)
        return self.ioctl(fd, ROOT_HVCALL, header, mode=mode,
                          pointers=((2, 0x100),) + (((3, 0x1000),) if out_sz else ()),
                          cuse=cuse)

    def write(self, directory, name):
        with open(os.path.join(directory, name), "wb") as f:
            f.write(self.data)


def get_property(code):
    return struct.pack("<QII", 0, code, 0)


def set_property(code, value):
    return struct.pack("<QIIQ", 0, code, 0, value)


def main(directory):
    os.makedirs(directory, exist_ok=True)
    # The 2021 review's negotiation, every capability and its gating.
    s = Seed("default.yaml").open().u32(0, CE_NEG, 0).u32(0, RV, 0).u32(0, RV, 1)
    for cap in range(5):
        s.u32(0, CE_NEG, cap)
    s.u32(0, RV, 2).u32(0, 0x4004B8F0, 0).ioctl(0, 0xAE03, value=3).close(0)
    s.open().u32(0, RV, 2).u32(0, CE_NEG, 3, cuse=True).write(directory, "negotiated")
    # RFC 2020: EBADFD before a version, 524, then locked.
    (Seed("rfc-2020.yaml").open().u32(0, 0x4004B8F0, 0).u32(0, RV, 1).u32(0, RV, 0)
     .u32(0, RV, 0).ioctl(0, CREATE_PARTITION_2020, mode=FDS).write(directory, "rfc-2020"))
    (Seed("rfc-2021-v1.yaml").open().u32(0, CE_2021, 0).u32(0, CE_2021, 1)
     .u32(0, CE_2021, 0xFFFFFFFF).write(directory, "rfc-2021-v1"))
    (Seed("vtl.yaml").open().u32(0, CE_2021, 1).u32(0, CE_2021, 3).ioctl(0, CREATE_VTL)
     .write(directory, "vtl"))
    (Seed("no-negotiation.yaml").open().u32(0, RV, 0).u32(0, CE_NEG, 0)
     .write(directory, "no-negotiation"))
    # A VMM's start-up on Microsoft's kernel, down to a VP, in process.
    s = Seed("microsoft.yaml").open()
    s.hvcall(0, GET_EX, get_property(VMM_CAPABILITIES), 4072)
    s.hvcall(0, GET, get_property(PHYSICAL_ADDRESS_WIDTH), 8)
    s.ioctl(0, GET_HOST_PROPERTY, struct.pack("<QQ", PHYSICAL_ADDRESS_WIDTH, 0))
    s.ioctl(0, CREATE_PARTITION, struct.pack("<QQ", 0x7, 0), mode=FDS)
    s.hvcall(1, SET, set_property(SYNTHETIC_PROC_FEATURES, 0x1234), 0)
    s.hvcall(1, GET, get_property(SYNTHETIC_PROC_FEATURES), 8)
    s.ioctl(1, INITIALIZE_PARTITION)
    s.hvcall(1, SET, set_property(SYNTHETIC_PROC_FEATURES, 0x5678), 0)
    s.u32(1, CREATE_VP, 0, mode=FDS).u32(1, CREATE_VP, 0, mode=FDS).u32(1, CREATE_VP, 256, mode=FDS)
    s.hvcall(2, GET, get_property(SYNTHETIC_PROC_FEATURES), 8)
    s.ioctl(2, RUN_VP).close(1).hvcall(1, GET, get_property(PHYSICAL_ADDRESS_WIDTH), 8)
    s.write(directory, "microsoft-vp")
    # The same through CUSE's retries, and the v2 structure on 6.19.
    s = Seed("root-6.19.yaml").open()
    s.hvcall(0, GET_EX, get_property(VMM_CAPABILITIES), 4072, cuse=True)
    s.hvcall(0, GET, get_property(0xDEAD), 8, cuse=True)
    v2 = struct.pack("<QQH6xQQQQQ", 0xF, 0, 2, 1, 2, 0, 0, 0)
    s.poke(0x2800, v2).ioctl(0, CREATE_PARTITION, v2[:16], at=0x2800, cuse=True)
    s.ioctl(0, CREATE_PARTITION, v2[:16], at=0x2800, mode=FDS)
    s.hvcall(1, 0x50, get_property(0), 8, mode=MEMORY)
    s.write(directory, "root-6.19-cuse")
    # 6.15: the output copied back on failure, no device hypercall.
    s = Seed("root-6.15.yaml").open().ioctl(0, CREATE_PARTITION, mode=FDS)
    s.hvcall(1, GET, get_property(0xDEAD), 8).hvcall(0, GET, get_property(0), 8)
    s.ioctl(0, CREATE_PARTITION, struct.pack("<QQ", 0x8, 0), mode=MEMORY)
    s.write(directory, "root-6.15")
    # Faults: EINTR once, EAGAIN every third, delays, a vanish, draws.
    s = Seed("retry-paths.yaml").open().u32(0, RV, 1).u32(0, RV, 1)
    for _ in range(4):
        s.u32(0, CE_NEG, 1)
    s.write(directory, "retry-paths")
    (Seed("slow-device.yaml").open().u32(0, RV, 1, interrupted=True).u32(0, RV, 1)
     .u32(0, CE_NEG, 1, cuse=True).write(directory, "slow-device"))
    s = Seed("driver-reload.yaml").open().u32(0, RV, 1)
    for _ in range(6):
        s.u32(0, CE_NEG, 1)
    s.open().write(directory, "driver-reload")
    s = Seed("flaky-probe.yaml").open().u32(0, RV, 2)
    for cap in range(16):  # its seed's first draw under 0.2 is the 13th
        s.u32(0, CE_NEG, cap % 4)
    s.write(directory, "flaky-probe")
    # A rule names an ioctl, only on its fds: CHECK_EXTENSION's number, asked
    # of a partition fd after a reload to a policy with rules, is not it.
    s = Seed("microsoft.yaml").open().ioctl(0, CREATE_PARTITION, mode=FDS)
    s.reload("retry-paths.yaml")
    for _ in range(3):
        s.u32(1, CE_NEG, 1)
    s.write(directory, "fault-on-a-partition-fd")
    # A reload under open fds: the version stays, the capabilities follow.
    (Seed("default.yaml").open().u32(0, RV, 2).reload("backport.yaml").u32(0, CE_NEG, 3)
     .reload("root-6.19.yaml").u32(0, CE_NEG, 3).ioctl(0, CREATE_PARTITION, mode=FDS)
     .write(directory, "reload"))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "tests/fuzz/corpus/dispatch"))
