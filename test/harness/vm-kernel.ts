// Finds Debian's linux-image-amd64 kernel and extracts the uncompressed vmlinux from its bzImage:
// qemu boots an ELF vmlinux straight through its PVH entry, which skips the in-guest
// decompression that costs 4–5 s under TCG.
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { open, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { HarnessError } from '../../scripts/lib/exec.js';

const BOOT_DIR = '/boot';
const MODULES_ROOT = '/lib/modules';
const KERNEL_APT_PACKAGE = 'linux-image-amd64';
/** Debian's flavour for plain x86-64 machines; cloud/rt flavours lack some modules or boot slower. */
const KERNEL_NAME_PATTERN = /^vmlinuz-(\d+)\.(\d+)\.(\d+)-(\d+)-amd64$/;

// Offsets in the x86 boot protocol header (Documentation/arch/x86/boot.rst).
const HDR_SETUP_SECTS = 0x1f1;
const HDR_MAGIC = 0x202;
const HDR_VERSION = 0x206;
const HDR_PAYLOAD_OFFSET = 0x248;
const HDR_PAYLOAD_LENGTH = 0x24c;
const HDR_MAGIC_VALUE = 'HdrS';
const MIN_PROTOCOL_WITH_PAYLOAD = 0x0208;
const SECTOR = 512;
const DEFAULT_SETUP_SECTS = 4;
const SIZE_SUFFIX_BYTES = 4;
const ELF_MAGIC = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);
const EXTRACT_TIMEOUT_MS = 120_000;

interface Codec {
  name: string;
  magic: Buffer;
  command: string;
  args: string[];
  aptPackage: string;
  /** The kernel build appends the uncompressed size (4 bytes LE) to every format except gzip. */
  sizeSuffix: boolean;
}

const CODECS: readonly Codec[] = [
  { name: 'xz', magic: Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]), command: 'xz', args: ['-dc', '--single-stream'], aptPackage: 'xz-utils', sizeSuffix: true },
  { name: 'zstd', magic: Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), command: 'zstd', args: ['-dc', '-q'], aptPackage: 'zstd', sizeSuffix: true },
  { name: 'gzip', magic: Buffer.from([0x1f, 0x8b, 0x08]), command: 'gzip', args: ['-dc'], aptPackage: 'gzip', sizeSuffix: false },
  { name: 'lz4', magic: Buffer.from([0x02, 0x21, 0x4c, 0x18]), command: 'lz4', args: ['-dc'], aptPackage: 'lz4', sizeSuffix: true },
];

export interface KernelInfo {
  /** `uname -r` of the guest, e.g. 6.1.0-56-amd64. */
  version: string;
  vmlinuzPath: string;
  modulesDir: string;
}

function compareVersions(a: RegExpExecArray, b: RegExpExecArray): number {
  for (let i = 1; i <= 4; i++) {
    const d = Number(a[i]) - Number(b[i]);
    if (d !== 0) return d;
  }
  return 0;
}

/** Picks the newest Debian amd64 kernel that also has its modules installed. */
export async function findKernel(): Promise<KernelInfo> {
  let entries: string[];
  try {
    entries = await readdir(BOOT_DIR);
  } catch {
    entries = [];
  }
  const matches = entries
    .map((name) => KERNEL_NAME_PATTERN.exec(name))
    .filter((m): m is RegExpExecArray => m !== null)
    .sort((a, b) => compareVersions(b, a));
  for (const m of matches) {
    const version = m[0].slice('vmlinuz-'.length);
    const modulesDir = join(MODULES_ROOT, version);
    try {
      await stat(join(modulesDir, 'modules.dep'));
    } catch {
      continue;
    }
    return { version, vmlinuzPath: join(BOOT_DIR, m[0]), modulesDir };
  }
  throw new HarnessError(
    'E_VM_NO_KERNEL',
    `no Debian kernel (${BOOT_DIR}/vmlinuz-*-amd64 with ${MODULES_ROOT}/<version>/modules.dep) found: ` +
      `install the Debian package "${KERNEL_APT_PACKAGE}" (npm run setup does it).`,
  );
}

/** Locates the compressed payload inside a bzImage and names the tool that unpacks it. */
export function locatePayload(image: Buffer, imagePath: string): { codec: Codec; start: number; length: number } {
  if (image.length < HDR_PAYLOAD_LENGTH + 4 || image.toString('latin1', HDR_MAGIC, HDR_MAGIC + 4) !== HDR_MAGIC_VALUE) {
    throw new HarnessError('E_VM_KERNEL_FORMAT', `${imagePath} is not an x86 bzImage (no "${HDR_MAGIC_VALUE}" header).`);
  }
  const protocol = image.readUInt16LE(HDR_VERSION);
  if (protocol < MIN_PROTOCOL_WITH_PAYLOAD) {
    throw new HarnessError('E_VM_KERNEL_FORMAT', `${imagePath}: boot protocol ${protocol.toString(16)} predates payload_offset.`);
  }
  const setupSects = image[HDR_SETUP_SECTS] || DEFAULT_SETUP_SECTS;
  const start = (setupSects + 1) * SECTOR + image.readUInt32LE(HDR_PAYLOAD_OFFSET);
  const length = image.readUInt32LE(HDR_PAYLOAD_LENGTH);
  if (start + length > image.length) {
    throw new HarnessError('E_VM_KERNEL_FORMAT', `${imagePath}: payload runs past the end of the file.`);
  }
  const codec = CODECS.find((c) => image.subarray(start, start + c.magic.length).equals(c.magic));
  if (!codec) {
    const head = image.subarray(start, start + 6).toString('hex');
    throw new HarnessError('E_VM_KERNEL_FORMAT', `${imagePath}: unknown payload compression (magic ${head}).`);
  }
  return { codec, start, length };
}

function decompress(codec: Codec, input: Buffer, destPath: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(codec.command, codec.args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out = createWriteStream(destPath);
    let stderr = '';
    let failed = false;
    const fail = (err: HarnessError) => {
      if (failed) return;
      failed = true;
      child.kill('SIGKILL');
      reject(err);
    };
    const timer = setTimeout(
      () => fail(new HarnessError('E_VM_KERNEL_EXTRACT', `${codec.command} timed out after ${EXTRACT_TIMEOUT_MS} ms`)),
      EXTRACT_TIMEOUT_MS,
    );
    child.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      fail(
        err.code === 'ENOENT'
          ? new HarnessError('E_MISSING_COMMAND', `${codec.command} not found: install the Debian package "${codec.aptPackage}" (npm run setup does it).`)
          : new HarnessError('E_VM_KERNEL_EXTRACT', `${codec.command}: ${err.message}`, { cause: err }),
      );
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.pipe(out);
    child.stdin.on('error', () => undefined); // EPIPE if the tool dies early; its exit code reports it
    child.stdin.end(input);
    let exitCode: number | null = null;
    let pending = 2;
    const settle = () => {
      if (--pending > 0 || failed) return;
      clearTimeout(timer);
      if (exitCode === 0) resolve();
      else fail(new HarnessError('E_VM_KERNEL_EXTRACT', `${codec.command} ${codec.args.join(' ')} exited ${exitCode}: ${stderr.trim()}`));
    };
    child.on('close', (code) => {
      exitCode = code;
      settle();
    });
    out.on('finish', settle);
    out.on('error', (err) => fail(new HarnessError('E_VM_KERNEL_EXTRACT', `writing ${destPath}: ${err.message}`, { cause: err })));
  });
}

/** Writes the uncompressed vmlinux ELF of `vmlinuzPath` to `destPath` and checks it. */
export async function extractVmlinux(vmlinuzPath: string, destPath: string): Promise<void> {
  const image = await readFile(vmlinuzPath);
  const { codec, start, length } = locatePayload(image, vmlinuzPath);
  const end = start + length - (codec.sizeSuffix ? SIZE_SUFFIX_BYTES : 0);
  await decompress(codec, image.subarray(start, end), destPath);

  const fh = await open(destPath, 'r');
  try {
    const head = Buffer.alloc(ELF_MAGIC.length);
    await fh.read(head, 0, head.length, 0);
    const { size } = await fh.stat();
    if (!head.equals(ELF_MAGIC)) {
      throw new HarnessError('E_VM_KERNEL_EXTRACT', `${vmlinuzPath}: the ${codec.name} payload did not unpack to an ELF vmlinux.`);
    }
    if (codec.sizeSuffix) {
      const expected = image.readUInt32LE(start + length - SIZE_SUFFIX_BYTES);
      if (size !== expected) {
        throw new HarnessError('E_VM_KERNEL_EXTRACT', `${vmlinuzPath}: unpacked ${size} bytes, the image says ${expected}.`);
      }
    }
  } finally {
    await fh.close();
  }
}
