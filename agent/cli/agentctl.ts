#!/usr/bin/env node
import { Command } from 'commander';
import { BERTH_VERSION } from '../version.js';

const program = new Command('agentctl').description('berth local diagnostics').version(BERTH_VERSION);

program
  .command('status')
  .description("show the agent's state")
  .action(() => {
    process.stderr.write('agentctl: no agentd control socket yet (arrives with agentd, issue #3)\n');
    process.exitCode = 2;
  });

program.parse();
