// `vmprobe check <file.yaml>...`: the command's registration. The checker (check.ts, with the `yaml`
// parser) is imported when the command runs, so that the agent and the other commands never load it
// (V8 keeps every loaded script's source for the life of the process).
import type { Command } from 'commander';

export function registerCheckCommand(program: Command): void {
  program
    .command('check')
    .description(
      'validate the probes of VMI, VM and VMIRS manifests offline (multi-document YAML; - for stdin)',
    )
    .argument('<files...>', 'YAML files')
    .action(async (files: string[]) => {
      const { runCheck } = await import('./check.js');
      process.exitCode = await runCheck(
        files,
        (s) => process.stdout.write(s),
        (s) => process.stderr.write(s),
      );
    });
}
