/**
 * The seccomp filter every build step runs under (bwrap `--seccomp FD`): a classic BPF program
 * that answers EPERM to the system calls a build has no use for and the kernel's attack surface
 * is largest in — the kernel keyring (keyctl, add_key, request_key), bpf, perf_event_open,
 * userfaultfd, io_uring, module loading, kexec, open_by_handle_at, acct, swap and reboot — and
 * allows everything else. User namespaces are refused by bwrap's `--disable-userns` already.
 *
 * The program checks the architecture first: a 64-bit x86 process can also make i386 system
 * calls (int 0x80) and x32 ones, with other numbers. Unknown architectures get ENOSYS for every
 * call; on a host whose architecture has no table here the filter is not applied (said in the
 * sandbox line).
 */
import os from "node:os";

const AUDIT_ARCH = { x86_64: 0xc000003e, i386: 0x40000003, aarch64: 0xc00000b7 } as const;
const X32_SYSCALL_BIT = 0x40000000;

/** Syscall numbers per architecture (Linux's unistd tables). */
const DENIED: Record<keyof typeof AUDIT_ARCH, Record<string, number>> = {
  x86_64: {
    keyctl: 250, add_key: 248, request_key: 249, bpf: 321, perf_event_open: 298, userfaultfd: 323,
    io_uring_setup: 425, io_uring_enter: 426, io_uring_register: 427, kexec_load: 246, kexec_file_load: 320,
    open_by_handle_at: 304, init_module: 175, finit_module: 313, delete_module: 176, acct: 163,
    swapon: 167, swapoff: 168, reboot: 169,
  },
  i386: {
    keyctl: 288, add_key: 286, request_key: 287, bpf: 357, perf_event_open: 336, userfaultfd: 374,
    io_uring_setup: 425, io_uring_enter: 426, io_uring_register: 427, kexec_load: 283,
    open_by_handle_at: 342, init_module: 128, finit_module: 350, delete_module: 129, acct: 51,
    swapon: 87, swapoff: 115, reboot: 88,
  },
  aarch64: {
    keyctl: 219, add_key: 217, request_key: 218, bpf: 280, perf_event_open: 241, userfaultfd: 282,
    io_uring_setup: 425, io_uring_enter: 426, io_uring_register: 427, kexec_load: 104, kexec_file_load: 294,
    open_by_handle_at: 265, init_module: 105, finit_module: 273, delete_module: 106, acct: 89,
    swapon: 224, swapoff: 225, reboot: 142,
  },
};

export const DENIED_SYSCALLS = Object.keys(DENIED.x86_64);

// Classic BPF (linux/filter.h, linux/seccomp.h).
const LD_W_ABS = 0x20;
const JEQ_K = 0x15;
const JGE_K = 0x35;
const RET_K = 0x06;
const RET_ALLOW = 0x7fff0000;
const RET_ERRNO = 0x00050000;
const EPERM = 1;
const ENOSYS = 38;
/** Offsets in struct seccomp_data. */
const NR = 0;
const ARCH = 4;

type Op = { code: number; k: number; jt?: string; jf?: string } | { label: string };

/** Resolves labels into relative jumps and packs struct sock_filter (8 bytes each, little-endian host order). */
function assemble(ops: Op[]): Buffer {
  const code = ops.filter((o): o is Exclude<Op, { label: string }> => !("label" in o));
  const at = new Map<string, number>();
  let pc = 0;
  for (const o of ops) {
    if ("label" in o) at.set(o.label, pc);
    else pc++;
  }
  const out = Buffer.alloc(code.length * 8);
  code.forEach((o, i) => {
    const jump = (label: string | undefined) => {
      if (label === undefined) return 0;
      const offset = (at.get(label) ?? NaN) - (i + 1);
      if (!(offset >= 0 && offset <= 255)) throw new Error(`seccomp: jump to ${label} out of range`);
      return offset;
    };
    out.writeUInt16LE(o.code, i * 8);
    out.writeUInt8(jump(o.jt), i * 8 + 2);
    out.writeUInt8(jump(o.jf), i * 8 + 3);
    out.writeUInt32LE(o.k >>> 0, i * 8 + 4);
  });
  return out;
}

/** The architectures a process on this host can make system calls in. */
function archesOf(machine: string): (keyof typeof AUDIT_ARCH)[] | undefined {
  if (machine === "x86_64") return ["x86_64", "i386"];
  if (machine === "aarch64" || machine === "arm64") return ["aarch64"];
  return undefined;
}

/** The filter for this host, or undefined when Kiln has no syscall table for its architecture. */
export function seccompFilter(machine = os.machine()): Buffer | undefined {
  const arches = archesOf(machine);
  if (!arches) return undefined;
  const ops: Op[] = [{ code: LD_W_ABS, k: ARCH }];
  arches.forEach((arch, i) => ops.push({ code: JEQ_K, k: AUDIT_ARCH[arch], jt: `arch-${i}`, ...(i === arches.length - 1 ? { jf: "nosys" } : {}) }));
  arches.forEach((arch, i) => {
    ops.push({ label: `arch-${i}` }, { code: LD_W_ABS, k: NR });
    if (arch === "x86_64") ops.push({ code: JGE_K, k: X32_SYSCALL_BIT, jt: "deny" });
    for (const nr of Object.values(DENIED[arch])) ops.push({ code: JEQ_K, k: nr, jt: "deny" });
    ops.push({ code: RET_K, k: RET_ALLOW });
  });
  ops.push({ label: "deny" }, { code: RET_K, k: RET_ERRNO | EPERM }, { label: "nosys" }, { code: RET_K, k: RET_ERRNO | ENOSYS });
  return assemble(ops);
}
