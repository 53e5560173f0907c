/**
 * `npm run bench -- console` (issue 16). Parts: GeoIP/ASN enrichment cost and ingest with enrichment on vs off
 * (bench/lib/console-geo.ts).
 */
import { runGeoBench } from './lib/console-geo.js';

await runGeoBench();
