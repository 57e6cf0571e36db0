#!/usr/bin/env node
import { Command } from 'commander';
import { BERTH_VERSION } from '../version.js';

const program = new Command('agentd')
  .description('berth node agent: joins a Swarm manager and runs its tasks on this host')
  .version(BERTH_VERSION);

program.action(() => {
  process.stderr.write('agentd: joining a manager is not built yet (issue #3); this build only ships the harness.\n');
  process.exitCode = 2;
});

program.parse();
