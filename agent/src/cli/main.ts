#!/usr/bin/env node
// The `vmprobe` command line. Only the CLI reads process.env and decides exit codes.
// Exit status: commander's own parse errors (unknown option, missing or invalid argument) are bad
// usage → 2; help and version → 0; each command sets process.exitCode for its own outcome.
import { Command, CommanderError } from 'commander';
import { VERSION } from '../version.js';
import { registerAgentCommand } from './agent-command.js';
import { registerCheckCommand } from './check-command.js';
import { registerProbeCommand } from './probe-command.js';
import { registerStatusCommand } from './status-command.js';
import { registerWebhookCommand } from './webhook-command.js';

export function buildProgram(): Command {
  const program = new Command('vmprobe')
    .description('Liveness and readiness probes for KubeVirt VirtualMachineInstances, run from the node')
    .version(VERSION)
    // Inherited by the subcommands registered below: errors are thrown, not process.exit()ed.
    .exitOverride();
  registerProbeCommand(program);
  registerAgentCommand(program);
  registerStatusCommand(program);
  registerCheckCommand(program);
  registerWebhookCommand(program);
  return program;
}

try {
  await buildProgram().parseAsync(process.argv);
} catch (err) {
  if (!(err instanceof CommanderError)) throw err;
  process.exitCode = err.exitCode === 0 ? 0 : err.code.startsWith('commander.') ? 2 : err.exitCode;
}
