/** One peer as `/api/v1/peers` shows it (SPEC §13, issue 7). */
export interface PeerInfo {
  /** base58 PeerId. */
  id: string;
  addresses: string[];
  /** RFC 3339, null when not connected. */
  connectedSince: string | null;
  recordsReceived: number;
  recordsRejected: number;
  /** gossipsub score. */
  score: number;
}
