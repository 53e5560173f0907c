/** The API shapes the dashboard reads (the subset of each route's schema it uses). */
export interface Bucket { t: string; events: number }
export interface TopItem { key: string; label: string | null; events: number; last_seen: string; last_24h: number; prev_24h: number }
export interface Overview {
  generated_at: string;
  total_events: number;
  minutes: Bucket[];
  hours: Bucket[];
  top: Record<'sources' | 'numbers' | 'user_agents' | 'methods' | 'countries' | 'asns', TopItem[]>;
  countries: { country: string; events: number }[];
  enforcement: {
    firewall: string;
    block_set: { ipv4: number; ipv6: number; seq: number } | null;
    policy?: { ttl_seconds: number; min_hits: number; verified_only: boolean; peers: boolean; max: number };
  };
}
export interface EventItem {
  id?: number; event_uuid: string; event_time: string | null; source_ip: string; transport: string | null; method: string | null;
  called_number: string | null; user_agent: string | null; origin: string | null; origin_peer_id: string | null;
  source_country: string | null; source_asn: number | null; source_org: string | null; response_code: number | null;
}
export interface IpItem {
  ip: string; first_seen: string; last_seen: string; count: number; verified: boolean; country: string | null; city: string | null;
  asn: number | null; org: string | null; methods: string[]; transports: string[]; distinct_numbers: number; user_agents: string[];
}
export interface NumberItem {
  called_number: string; called_number_e164: string | null; country: string | null; number_type: string | null;
  first_seen: string; last_seen: string; count: number; distinct_sources: number;
}
export interface Credential {
  id: number; event_time: string; source_ip: string; method: string | null; username: string | null; realm: string | null;
  uri: string | null; algorithm: string | null; user_agent: string | null; password: string | null; password_source: string | null;
}
export interface CheckAnswer {
  verdict: 'block' | 'allow';
  reasons: string[];
  ip?: { address: string; hits: number; verified: boolean; seen_by_peers: boolean; excluded: string | null; blocked_until: string | null };
  number?: { number: string; hits: number; distinct_sources: number; blocked_until: string | null };
}
export interface Peers {
  peers: { id: string; addresses: string[]; connected_since: string | null; records_received: number; records_rejected: number; score: number }[];
  opendht: null | { node_id: string | null; port: number | null; bootstrap: string[]; bootstrap_state: string; values_received: number; values_accepted: number; values_rejected: number; values_published: number };
}
