// V8 grows the young generation (two semi-spaces) from 1 MiB up to 16 MiB each as soon as a
// burst survives scavenges — module loading at start does — and keeps it: 32 MiB committed and
// resident in an agent that then idles. Held at its initial size, scavenges run more often
// during bursts and each is cheaper; agentd's RSS fell 12–20 MB joined, idle or with 1,000
// tasks (`npm run bench -- footprint`). V8 reads the flag whenever it resizes, so setting it
// here works; it must run before anything allocates much: agentd imports this module first.
import v8 from 'node:v8';

v8.setFlagsFromString('--semi-space-growth-factor=1');
