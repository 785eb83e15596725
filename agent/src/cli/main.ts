#!/usr/bin/env node
// The `vmprobe` command line. Only the CLI reads process.env and decides exit codes.
import { Command } from 'commander';
import { VERSION } from '../version.js';

export function buildProgram(): Command {
  const program = new Command('vmprobe')
    .description('Liveness and readiness probes for KubeVirt VirtualMachineInstances, run from the node')
    .version(VERSION);
  return program;
}

await buildProgram().parseAsync(process.argv);
