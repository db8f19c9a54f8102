/** Remote retention lives beside local retention (one rule, one catalog); this path stays for its callers. */
export { applyRemoteRetention } from "./apply.js";
