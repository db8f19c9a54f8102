/** Kept for backup-db's import until its stages read `catalog.ts` directly: the lister is the catalog's. */
export { listLocalBackups } from "./catalog.js";
