/**
 * The API's reader worker: owns read-only sqlite connections and runs every query and export off
 * the capture thread. Streams are pulled one chunk per request, so memory stays bounded whatever the row count.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { ReaderProtocol, WorkerInit } from './protocol.js';
import { Queries } from '../store/queries.js';
import { serve } from '../rpc/index.js';
import { blocklistBody, compatListBody, ipsetBody } from './streams.js';

const init = workerData as WorkerInit;
const queries = new Queries(init.dbPath, init.allow, init.policy, { trustOpendht: init.trustOpendht });
if (init.excluded) queries.setExcluded(init.excluded);

// Store errors (QueryError) cross the boundary by their catalogue code; the main thread maps codes to statuses.
serve<ReaderProtocol>(parentPort!, {
  calls: {
    ipExists: (p) => queries.ipExists(p.ip),
    numberExists: (p) => queries.numberExists(p.raw, p.e164),
    userAgentExists: (p) => queries.userAgentExists(p.ua),
    methodExists: (p) => queries.methodExists(p.method),
    countryExists: (p) => queries.countryExists(p.cc),
    cityExists: (p) => queries.cityExists(p.cc, p.city),
    events: (p) => queries.events(p),
    ipAddresses: (p) => queries.ipAddresses(p),
    numbers: (p) => queries.numbers(p),
    credentials: (p) => queries.credentials(p),
    userAgents: (p) => queries.userAgents(p),
    methods: () => queries.methods(),
    stats: (p) => queries.stats(p.hours, p.nowUs),
    overview: (p) => queries.overview(p.nowUs, p.limit),
    // Serialised here: a string crosses to the main thread without the structured clone of a nested object, and the
    // main thread (which also serves every other request) does no JSON work for the call-check.
    check: (p) => JSON.stringify(queries.check(p.query, p.nowUs)),
    apiban: (p) => queries.apiban(p.after, p.windowStartUs, p.verified),
  },
  streams: {
    compatList: (p) => compatListBody(p.kind, queries.openCompatList(p.kind)),
    ipset: (p) => ipsetBody(queries.openIpset(p.family)),
    blocklist: (p) => blocklistBody(queries.openBlocklist(p.query, p.nowUs), p.query.format, p.query.names, p.nowUs),
  },
  notes: {
    exclusions: (lists) => queries.setExcluded(lists),
  },
  onClose: () => queries.close(),
});
