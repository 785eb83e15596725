// `vmprobe agent --node-name N [--kubeconfig F] [--listen ADDR:PORT] [--liveness-action …]
//   [--max-kills-per-minute N] [--allow-probe-cidr CIDR]… [--unsafe-probe-cidr CIDR]… [--insecure-endpoints]
//   [--guest-probes [--kubelet-pods-root DIR]]
//   [--log-level …] [--log-format json|pretty]`
// Runs the node agent until SIGTERM/SIGINT, then stops probing, flushes pending writes within the
// shutdown grace and exits 0. NODE_NAME and KUBECONFIG come from the environment when the flags are
// absent; without a kubeconfig the in-cluster service account is used. Bad flags exit 2; an
// unreachable API server is not an error (the agent retries and /readyz says why it is not ready).
import { type Command, InvalidArgumentError, Option } from 'commander';
import { Agent, type AgentOptions, type LivenessAction } from '../agent.js';
import { parseListenAddress } from '../http/index.js';
import { createLivenessHandler, DEFAULT_KILL_BUDGET } from '../liveness/index.js';
import { createLogger, type LogFormat, type LogLevel } from '../log.js';
import { CidrAllowList, DEFAULT_PODS_ROOT, podsRootProblem } from '../targets/index.js';
import { VERSION } from '../version.js';
import { loadCliKubeConfig } from './kubeconfig.js';

export const DEFAULT_LISTEN = '0.0.0.0:9470';
/** Time given to pending writes after SIGTERM; below the DaemonSet's terminationGracePeriodSeconds. */
export const SHUTDOWN_FLUSH_MS = 20_000;

interface AgentFlags {
  nodeName?: string;
  kubeconfig?: string;
  listen: string;
  livenessAction: LivenessAction;
  maxKillsPerMinute: number;
  allowProbeCidr: string[];
  unsafeProbeCidr: string[];
  insecureEndpoints: boolean;
  guestProbes?: boolean;
  kubeletPodsRoot: string;
  logLevel: LogLevel;
  logFormat: LogFormat;
}

/** Upper bound of --max-kills-per-minute (a typo guard; a node never runs this many VMIs a minute). */
export const MAX_KILLS_PER_MINUTE_LIMIT = 10_000;

/** `--max-kills-per-minute`: an integer 0…10000 (0 = the liveness action never runs, kills are held back). */
export function parseMaxKillsPerMinute(value: string): number {
  const n = /^\d+$/.test(value.trim()) ? Number(value.trim()) : Number.NaN;
  if (!Number.isSafeInteger(n) || n > MAX_KILLS_PER_MINUTE_LIMIT) {
    throw new InvalidArgumentError(
      `must be an integer from 0 to ${MAX_KILLS_PER_MINUTE_LIMIT} (stops per minute on this node)`,
    );
  }
  return n;
}

/** The liveness handler for --liveness-action (agent/src/liveness); `none` still reports. */
export function livenessFactory(
  action: LivenessAction,
  maxKillsPerMinute: number = DEFAULT_KILL_BUDGET.maxPerMinute,
): NonNullable<AgentOptions['liveness']> {
  return (deps) => createLivenessHandler(action, deps, { maxKillsPerMinute });
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function usage(message: string): never {
  process.stderr.write(`vmprobe agent: ${message}\n`);
  process.exit(2);
}

export function registerAgentCommand(program: Command): void {
  program
    .command('agent')
    .description('run the node agent: discover this node’s VMIs, probe them, report, act on liveness failure')
    .addOption(
      new Option('--node-name <name>', 'this node (the VMIs whose status.nodeName it is)').env('NODE_NAME'),
    )
    .addOption(
      new Option('--kubeconfig <file>', 'kubeconfig file (default: in-cluster config)').env('KUBECONFIG'),
    )
    .addOption(
      new Option('--listen <addr:port>', '/metrics, /healthz, /readyz, /debug/probes').default(
        DEFAULT_LISTEN,
      ),
    )
    .addOption(
      new Option('--liveness-action <action>', 'what a liveness failure does')
        .choices(['stop-launcher', 'delete-vmi', 'none'])
        .default('stop-launcher'),
    )
    .addOption(
      new Option(
        '--max-kills-per-minute <n>',
        'kill budget: at most N liveness stops per minute on this node (0 = hold every stop back)',
      )
        .argParser(parseMaxKillsPerMinute)
        .default(DEFAULT_KILL_BUDGET.maxPerMinute),
    )
    .addOption(
      new Option(
        '--allow-probe-cidr <cidr>',
        'CIDR where a guest-reported interface address or an explicit probe host may be, besides the launcher pod’s IP (repeatable)',
      )
        .argParser(collect)
        .default([]),
    )
    .addOption(
      new Option(
        '--unsafe-probe-cidr <cidr>',
        'test beds only: CIDR exempt from the never-probed loopback/link-local/multicast/unspecified classes (repeatable)',
      )
        .argParser(collect)
        .default([])
        .hideHelp(),
    )
    .addOption(
      new Option(
        '--insecure-endpoints',
        'serve /metrics and /debug/probes to anyone who reaches the port (no TokenReview/SubjectAccessReview)',
      ).default(false),
    )
    .addOption(
      new Option(
        '--guest-probes',
        'run exec and guestAgentPing probes through each virt-launcher command socket (needs the kubelet pods directory mounted, see --kubelet-pods-root and docs/OPERATIONS.md "Guest probes"); off: they are reported Unknown/UnsupportedProbe',
      ),
    )
    .addOption(
      new Option(
        '--kubelet-pods-root <dir>',
        'where the kubelet’s /var/lib/kubelet/pods is mounted in this container (short: unix socket paths are limited to 107 bytes)',
      ).default(DEFAULT_PODS_ROOT),
    )
    .addOption(new Option('--log-level <level>').choices(['debug', 'info', 'warn', 'error']).default('info'))
    .addOption(new Option('--log-format <format>').choices(['json', 'pretty']).default('json'))
    .action(async (flags: AgentFlags) => {
      if (!flags.nodeName) usage('--node-name (or NODE_NAME) is required');
      try {
        parseListenAddress(flags.listen);
        new CidrAllowList(flags.allowProbeCidr);
        new CidrAllowList(flags.unsafeProbeCidr);
        const rootProblem = podsRootProblem(flags.kubeletPodsRoot);
        if (rootProblem) throw new Error(`--kubelet-pods-root: ${rootProblem}`);
      } catch (err) {
        usage(err instanceof Error ? err.message : String(err));
      }
      const kubeConfig = loadCliKubeConfig(flags.kubeconfig, usage);
      const logger = createLogger({
        level: flags.logLevel,
        format: flags.logFormat,
        base: { node: flags.nodeName },
      });
      const liveness = livenessFactory(flags.livenessAction, flags.maxKillsPerMinute);
      const agent = new Agent({
        nodeName: flags.nodeName,
        kubeConfig,
        logger,
        listen: flags.listen,
        allowProbeCidrs: flags.allowProbeCidr,
        unsafeProbeCidrs: flags.unsafeProbeCidr,
        insecureEndpoints: flags.insecureEndpoints,
        ...(flags.guestProbes ? { guestProbes: { podsRoot: flags.kubeletPodsRoot } } : {}),
        liveness,
      });
      logger.info(
        {
          version: VERSION,
          listen: flags.listen,
          livenessAction: flags.livenessAction,
          maxKillsPerMinute: flags.maxKillsPerMinute,
          allowProbeCidrs: flags.allowProbeCidr,
          ...(flags.unsafeProbeCidr.length > 0 ? { unsafeProbeCidrs: flags.unsafeProbeCidr } : {}),
          endpoints: flags.insecureEndpoints
            ? 'insecure (no authentication)'
            : 'TokenReview + SubjectAccessReview',
          guestProbes: flags.guestProbes ? { kubeletPodsRoot: flags.kubeletPodsRoot } : false,
          server: kubeConfig.getCurrentCluster()?.server,
        },
        'vmprobe agent starting',
      );
      let signalled = false;
      const done = new Promise<void>((resolve) => {
        const onSignal = (sig: NodeJS.Signals) => {
          if (signalled) {
            logger.warn({ signal: sig }, 'second signal; exiting without waiting');
            process.exit(1);
          }
          signalled = true;
          logger.info({ signal: sig, flushMs: SHUTDOWN_FLUSH_MS }, 'shutting down');
          agent.stop(SHUTDOWN_FLUSH_MS).then(resolve, (err: unknown) => {
            logger.error({ err: err instanceof Error ? err.message : String(err) }, 'error while stopping');
            resolve();
          });
        };
        process.on('SIGTERM', onSignal);
        process.on('SIGINT', onSignal);
      });
      try {
        await agent.start();
      } catch (err) {
        logger.error({ err: err instanceof Error ? err.message : String(err) }, 'cannot start the agent');
        await agent.stop(0);
        process.exitCode = 1;
        return;
      }
      await done;
      process.exitCode = 0;
    });
}
