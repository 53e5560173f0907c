/**
 * `npm run bench -- console` (issue 16). Parts: GeoIP/ASN enrichment cost and ingest with enrichment on vs off
 * (bench/lib/console-geo.ts), and the dashboard's first load at 1M events in Chromium (bench/lib/console-ui.ts).
 * SIPWARDEN_BENCH_CONSOLE_PART=ui (or geo) runs one part only; SIPWARDEN_BENCH_CONSOLE_EVENTS sets the event count.
 */
import { runGeoBench } from './lib/console-geo.js';
import { runUiBench } from './lib/console-ui.js';

const only = process.env.SIPWARDEN_BENCH_CONSOLE_PART;
if (only !== 'ui') await runGeoBench();
if (only !== 'geo') await runUiBench();
