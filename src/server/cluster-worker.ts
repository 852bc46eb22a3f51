/**
 * server/cluster-worker — the entry point server/cluster forks for each worker (server/worker).
 */
import { runWorker } from './worker.ts';

await runWorker();
