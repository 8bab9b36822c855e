/**
 * The seccomp filter bwrap installs before the app's first instruction (`--seccomp <fd>`), as
 * classic BPF. It takes away what an unprivileged app has no use for and what widens the
 * kernel's attack surface most:
 * - new user namespaces (clone or unshare with CLONE_NEWUSER: EPERM), in which an app holds
 *   every capability, nf_tables and mounts included; as root bwrap makes none, so nothing else
 *   forbids them (unprivileged, it passes --disable-userns). clone3, whose flags a filter cannot
 *   read, is ENOSYS: libc falls back to clone;
 * - the kernel keyrings (add_key, request_key, keyctl: EPERM): the session keyring the app
 *   inherits is the control plane's;
 * - other ABIs (i386, x32 on x86_64: ENOSYS), through which the same calls have other numbers.
 * Null on other machines: no filter there.
 */

interface Arch {
  audit: number;
  clone: number;
  unshare: number;
  clone3: number;
  keys: number[];
  /** Numbers from here on are another ABI (x32). */
  otherAbiFrom: number | null;
}

const ARCHES: Partial<Record<string, Arch>> = {
  x64: { audit: 0xc000003e, clone: 56, unshare: 272, clone3: 435, keys: [248, 249, 250], otherAbiFrom: 0x40000000 },
  arm64: { audit: 0xc00000b7, clone: 220, unshare: 97, clone3: 435, keys: [217, 218, 219], otherAbiFrom: null },
};

const CLONE_NEWUSER = 0x10000000;
const EPERM = 1;
const ENOSYS = 38;
const RET_ALLOW = 0x7fff0000;
const retErrno = (errno: number) => 0x00050000 | errno;

// Classic BPF opcodes.
const LD_ABS_W = 0x20;
const JEQ = 0x15;
const JGE = 0x35;
const JSET = 0x45;
const RET = 0x06;
// struct seccomp_data: nr at 0, arch at 4, args[0] at 16 (low half first, little-endian).
const NR = 0;
const ARCH = 4;
const ARG0_LOW = 16;

type Label = 'check' | 'allow' | 'eperm' | 'enosys';
/** An instruction whose jumps (true, false) are a label or 0 (the next instruction). */
type Insn = [code: number, jt: Label | 0, jf: Label | 0, k: number];

/** The filter for this machine's architecture (`process.arch`), or null where we have none. */
export function seccompFilter(arch: string = process.arch): Buffer | null {
  const a = ARCHES[arch];
  if (!a) return null;
  const insns: Array<Insn | Label> = [
    [LD_ABS_W, 0, 0, ARCH],
    [JEQ, 0, 'enosys', a.audit],
    [LD_ABS_W, 0, 0, NR],
    ...(a.otherAbiFrom === null ? [] : [[JGE, 'enosys', 0, a.otherAbiFrom] as Insn]),
    [JEQ, 'enosys', 0, a.clone3],
    ...a.keys.map((nr): Insn => [JEQ, 'eperm', 0, nr]),
    [JEQ, 'check', 0, a.unshare],
    [JEQ, 'check', 0, a.clone],
    [RET, 0, 0, RET_ALLOW],
    'check',
    [LD_ABS_W, 0, 0, ARG0_LOW],
    [JSET, 'eperm', 'allow', CLONE_NEWUSER],
    'allow',
    [RET, 0, 0, RET_ALLOW],
    'eperm',
    [RET, 0, 0, retErrno(EPERM)],
    'enosys',
    [RET, 0, 0, retErrno(ENOSYS)],
  ];
  const at = new Map<Label, number>();
  const code: Insn[] = [];
  for (const i of insns) {
    if (typeof i === 'string') at.set(i, code.length);
    else code.push(i);
  }
  // A jump counts from the instruction after it.
  const offset = (j: Label | 0, from: number) => (j === 0 ? 0 : at.get(j)! - from - 1);
  const buf = Buffer.alloc(code.length * 8);
  code.forEach(([op, jt, jf, k], i) => {
    buf.writeUInt16LE(op, i * 8);
    buf.writeUInt8(offset(jt, i), i * 8 + 2);
    buf.writeUInt8(offset(jf, i), i * 8 + 3);
    buf.writeUInt32LE(k >>> 0, i * 8 + 4);
  });
  return buf;
}
