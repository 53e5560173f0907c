/** One peer as `/api/v1/peers` shows it (issue 7). */
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

/** What `/api/v1/peers` and the start-up lines show of the OpenDHT side. */
export interface OpenDhtInfo {
  /** The DHT node's own infohash (hex), once started. */
  nodeId: string | null;
  /** UDP port bound (IPv4; IPv6 the same unless the system refused). */
  port: number | null;
  bootstrap: string[];
  bootstrapState: 'starting' | 'connected' | 'unreachable' | 'none';
  valuesReceived: number;
  valuesAccepted: number;
  valuesRejected: number;
  valuesPublished: number;
}
