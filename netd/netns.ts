// Which network namespace a path names right now. A /proc/<pid>/ns/net path outlives its process
// and the pid can be reused, so the overlay plane (reconcile) and the controller (the cheap
// "still attached" check) compare this identity, never the path alone.
import { statSync } from 'node:fs';

/** dev:inode of the namespace at `path`, or undefined when nothing is there. */
export function netnsIdentity(path: string): string | undefined {
  try {
    const st = statSync(path);
    return `${st.dev}:${st.ino}`;
  } catch {
    return undefined;
  }
}
