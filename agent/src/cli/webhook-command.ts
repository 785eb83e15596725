// `vmprobe webhook --tls-cert-file F --tls-private-key-file F [--listen ADDR:PORT] [--kubeconfig F]
//   [--log-level …] [--log-format json|pretty]`
// Serves the readiness-gate injection webhook (design §7) until SIGTERM/SIGINT, then finishes the
// requests in flight and exits 0. KUBECONFIG comes from the environment when the flag is absent;
// without a kubeconfig the in-cluster service account is used. Bad flags or a certificate/key that
// does not load exit 2; a port that cannot be bound exits 1.
import { type Command, Option } from 'commander';
import { parseListenAddress } from '../http/index.js';
import { createVmiReader } from '../kube/vmi-reader.js';
import { createLogger, type LogFormat, type LogLevel } from '../log.js';
import { VERSION } from '../version.js';
import {
  AdmissionHandler,
  DEFAULT_WEBHOOK_LISTEN,
  loadTlsPair,
  TlsFilesError,
  WebhookMetrics,
  WebhookServer,
} from '../webhook/index.js';
import { loadCliKubeConfig } from './kubeconfig.js';

interface WebhookFlags {
  tlsCertFile?: string;
  tlsPrivateKeyFile?: string;
  listen: string;
  kubeconfig?: string;
  logLevel: LogLevel;
  logFormat: LogFormat;
}

function usage(message: string): never {
  process.stderr.write(`vmprobe webhook: ${message}\n`);
  process.exit(2);
}

export function registerWebhookCommand(program: Command): void {
  program
    .command('webhook')
    .description(
      'serve the admission webhook that adds the vmprobe.io/ReadinessProbe readiness gate to launcher pods',
    )
    .addOption(new Option('--tls-cert-file <file>', 'serving certificate (PEM), re-read when it changes'))
    .addOption(new Option('--tls-private-key-file <file>', 'its private key (PEM), re-read when it changes'))
    .addOption(
      new Option('--listen <addr:port>', '/mutate-v1-pod, /healthz, /readyz, /metrics').default(
        DEFAULT_WEBHOOK_LISTEN,
      ),
    )
    .addOption(
      new Option('--kubeconfig <file>', 'kubeconfig file (default: in-cluster config)').env('KUBECONFIG'),
    )
    .addOption(new Option('--log-level <level>').choices(['debug', 'info', 'warn', 'error']).default('info'))
    .addOption(new Option('--log-format <format>').choices(['json', 'pretty']).default('json'))
    .action(async (flags: WebhookFlags) => {
      if (!flags.tlsCertFile) usage('--tls-cert-file is required');
      if (!flags.tlsPrivateKeyFile) usage('--tls-private-key-file is required');
      try {
        parseListenAddress(flags.listen);
        loadTlsPair(flags.tlsCertFile, flags.tlsPrivateKeyFile);
      } catch (err) {
        usage(
          err instanceof TlsFilesError
            ? `cannot load the serving certificate: ${err.message}`
            : String((err as Error).message ?? err),
        );
      }
      const kubeConfig = loadCliKubeConfig(flags.kubeconfig, usage);
      const logger = createLogger({
        level: flags.logLevel,
        format: flags.logFormat,
        base: { component: 'webhook' },
      });
      const metrics = new WebhookMetrics({ version: VERSION });
      const handler = new AdmissionHandler({ reader: createVmiReader(kubeConfig), metrics, logger });
      const server = new WebhookServer({
        listen: flags.listen,
        certFile: flags.tlsCertFile,
        keyFile: flags.tlsPrivateKeyFile,
        handler,
        metrics,
        logger,
      });
      logger.info(
        { version: VERSION, listen: flags.listen, server: kubeConfig.getCurrentCluster()?.server },
        'vmprobe webhook starting',
      );
      let signalled = false;
      const done = new Promise<void>((resolve) => {
        const onSignal = (sig: NodeJS.Signals) => {
          if (signalled) process.exit(1);
          signalled = true;
          logger.info({ signal: sig }, 'shutting down');
          server.stop().then(resolve, resolve);
        };
        process.on('SIGTERM', onSignal);
        process.on('SIGINT', onSignal);
      });
      try {
        await server.start();
      } catch (err) {
        logger.error({ err: err instanceof Error ? err.message : String(err) }, 'cannot start the webhook');
        await server.stop();
        process.exitCode = 1;
        return;
      }
      await done;
      process.exitCode = 0;
    });
}
