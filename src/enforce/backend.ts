import { ERROR_CODES, SipwardenError } from '../errors.js';
import type { BlockChange, BlockEntry, Family } from './blockset.js';

/** What `firewall status` and /metrics report about the kernel side. */
export interface FirewallStatus {
  backend: 'nftables' | 'ipset';
  /** Table (nftables) or set-name prefix (ipset). */
  table: string;
  /** Set names per family. */
  sets: Record<Family, string>;
  /** Elements the kernel holds per family; null when the set does not exist. */
  elements: Record<Family, number | null>;
  /** Packets dropped by sipwarden's rules (nftables only; ipset rules belong to the operator). */
  droppedPackets: number | null;
}

/** One way of putting the block set into the kernel. Every method runs one tool process at most (per chunk). */
export interface FirewallBackend {
  readonly kind: 'nftables' | 'ipset';
  /**
   * Checks the environment and creates what is missing (table, sets, chain). Throws a SipwardenError with exit
   * code 2 and one clear line when the environment cannot work (tool missing, no CAP_NET_ADMIN, a foreign table of
   * that name, a kernel without set timeouts).
   */
  setup(): Promise<void>;
  /** Makes the sets hold exactly `entries` (atomically where the tool allows). */
  replaceAll(entries: Iterable<Readonly<BlockEntry>>, nowMs: number): Promise<void>;
  /**
   * Start-up and resync: {@link setup} then {@link replaceAll}, as one tool run when the tool allows (nftables:
   * one transaction whose first statement proves the table is ours). Throws the same exit-2 errors as setup().
   */
  reconcile(entries: Iterable<Readonly<BlockEntry>>, nowMs: number): Promise<void>;
  /** Applies changes in order (the last change per address wins). */
  apply(changes: readonly BlockChange[], nowMs: number): Promise<void>;
  status(): Promise<FirewallStatus>;
  /** Empties the sets. */
  flush(): Promise<void>;
  /** Deletes everything it created (`--firewall-cleanup`). */
  teardown(): Promise<void>;
}

/** A failed tool run at run time (logged, counted, retried). */
export class FirewallUpdateError extends SipwardenError {
  constructor(message: string) {
    super(ERROR_CODES.FIREWALL_UPDATE_FAILED, message, 1);
  }
}

/** A bad environment at start: exit 2 with one line. */
export function unavailable(message: string): SipwardenError {
  return new SipwardenError(ERROR_CODES.FIREWALL_UNAVAILABLE, message, 2);
}

/** Seconds until `expiresAtMs`, rounded up, at least 1 (the kernel wants a positive timeout). */
export function timeoutSeconds(expiresAtMs: number, nowMs: number): number {
  return Math.max(1, Math.ceil((expiresAtMs - nowMs) / 1000));
}

/** The last change per address, in the order of those last changes. */
export function coalesce(changes: readonly BlockChange[]): BlockChange[] {
  const last = new Map<string, BlockChange>();
  for (const c of changes) {
    last.delete(c.ip);
    last.set(c.ip, c);
  }
  return [...last.values()];
}

/** The first line of a tool's error output, trimmed, for a one-line message. */
export function firstLine(text: string): string {
  const line = text.split('\n').map((l) => l.trim()).find((l) => l !== '') ?? '';
  return line.length > 200 ? `${line.slice(0, 200)}…` : line;
}

/** Matches the kernel's "not permitted" answers (no CAP_NET_ADMIN). */
export const NOT_PERMITTED = /Operation not permitted|Permission denied|must be run as root|Kernel error received: Operation not permitted/i;
