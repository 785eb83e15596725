import { instanceNames, instanceOf, NETNS_PREFIX, NFT_TABLE_PREFIX, RULE_COMMENT_PREFIX } from './names.js';
import { runSync, which } from './run.js';
import { isLive, readRecords } from './state.js';

/**
 * Best-effort cleanup when the process ends without stop(): synchronous hooks run on 'exit' and on
 * SIGINT/SIGTERM/SIGHUP (then the signal is re-raised if nobody else handles it). Handlers are
 * installed while at least one hook is registered and removed with the last one.
 */
const hooks = new Set<() => void>();
const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

function runHooks(): void {
  for (const h of [...hooks]) {
    hooks.delete(h);
    try {
      h();
    } catch {}
  }
}

function onSignal(sig: NodeJS.Signals): void {
  runHooks();
  uninstall();
  if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
}

function install(): void {
  process.on('exit', runHooks);
  for (const s of SIGNALS) process.on(s, onSignal);
}

function uninstall(): void {
  process.off('exit', runHooks);
  for (const s of SIGNALS) process.off(s, onSignal);
}

/** Register a synchronous cleanup; returns its unregister function (idempotent). */
export function onProcessExit(hook: () => void): () => void {
  if (hooks.size === 0) install();
  hooks.add(hook);
  return () => {
    if (hooks.delete(hook) && hooks.size === 0) uninstall();
  };
}

function listNetns(): string[] {
  const out = runSync('ip', ['netns', 'list']) ?? '';
  return out
    .split('\n')
    .map((l) => l.trim().split(' ')[0] ?? '')
    .filter((n) => n.startsWith(NETNS_PREFIX));
}

function listLinks(): string[] {
  const out = runSync('ip', ['-o', 'link', 'show']) ?? '';
  const names: string[] = [];
  for (const line of out.split('\n')) {
    const name = /^\d+:\s+([^:@\s]+)/.exec(line)?.[1];
    if (name && instanceOf(name)) names.push(name);
  }
  return names;
}

function listNftTables(): string[] {
  if (!which('nft')) return [];
  const out = runSync('nft', ['list', 'tables']) ?? '';
  return out
    .split('\n')
    .map((l) => /^table ip (\S+)$/.exec(l.trim())?.[1] ?? '')
    .filter((t) => t.startsWith(NFT_TABLE_PREFIX));
}

function iptablesRules(): string[] {
  if (!which('iptables')) return [];
  const out = runSync('iptables', ['-w', '-S', 'INPUT']) ?? '';
  return out.split('\n').filter((l) => l.startsWith('-A ') && l.includes(RULE_COMMENT_PREFIX));
}

function deleteIptablesRule(rule: string): void {
  // Our rules hold no quoted arguments, so splitting on spaces is exact.
  runSync('iptables', ['-w', '-D', ...rule.split(' ').slice(1)]);
}

/** Remove every kernel object named after instance `inst`. Root only; synchronous; idempotent. */
export function sweepInstanceSync(inst: string): void {
  const names = instanceNames(inst);
  for (const ns of listNetns()) if (instanceOf(ns) === inst) runSync('ip', ['netns', 'del', ns]);
  for (const link of listLinks()) if (instanceOf(link) === inst) runSync('ip', ['link', 'del', link]);
  if (listNftTables().includes(names.nftTable)) runSync('nft', ['delete', 'table', 'ip', names.nftTable]);
  for (const rule of iptablesRules()) if (instanceOf(rule) === inst) deleteIptablesRule(rule);
}

/**
 * Remove objects with our prefixes whose instance has no live owner (a crashed or killed run).
 * Root only. Returns the instance ids swept.
 */
export function sweepOrphansSync(): string[] {
  const live = new Set(
    readRecords()
      .filter(isLive)
      .map((r) => r.inst),
  );
  const found = new Set<string>();
  const all = [...listNetns(), ...listLinks(), ...listNftTables(), ...iptablesRules()];
  for (const name of all) {
    const inst = instanceOf(name);
    if (inst && !live.has(inst)) found.add(inst);
  }
  for (const inst of found) sweepInstanceSync(inst);
  return [...found];
}
