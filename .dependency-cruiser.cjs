// The architecture as a rule: imports run one way, from adapters down to shared errors and types.
// Each folder of src/ has a place in LAYERS; a module may import its own folder and folders of a
// lower layer, and, inside a layer, only the folders listed before its own (a fixed order, so no
// two folders can import each other). Commands are the exception: they do not import each other,
// save verify, whose test restore is a restore, and media, whose runs start with backup's prepare stage. `npm run deps` checks it; CI runs it.
// Folder → responsibility is written out in README.md ("Layout").
"use strict";

/** Lowest first. A folder may import anything of an earlier entry (and earlier in its own row). */
const LAYERS = [
  { name: "shared", folders: ["shared", "version.ts"] },
  { name: "infrastructure", folders: ["net", "process", "log", "fs", "crypto", "db", "stream", "storage"] },
  { name: "domain", folders: ["config", "catalog", "metrics", "summary", "retention"] },
  { name: "commands", folders: ["restore", "verify", "backup", "media", "lifecycle", "doctor", "report"] },
  { name: "adapters", folders: ["actions", "cli"] },
];
/** Command → command imports that are allowed (everything else across commands is refused). */
// media runs are prepared like backup-db's (stages/prepare: directories, day log, lock).
const COMMAND_IMPORTS = { verify: ["restore"], media: ["backup"] };

const order = LAYERS.flatMap((layer) => layer.folders.map((folder) => ({ folder, layer: layer.name })));
const re = (folders) => `^src/(${folders.map((f) => f.replace(".", "\\.")).join("|")})(/|$)`;

const forbidden = [
  {
    name: "no-circular",
    severity: "error",
    comment:
      "A cycle means two modules cannot be understood, tested or moved apart: break it with a lower module.",
    from: {},
    to: { circular: true },
  },
  {
    name: "github-only-in-actions",
    severity: "error",
    comment: "The engine knows nothing about GitHub: @actions/* is for the adapters in src/actions.",
    from: { path: "^src/", pathNot: "^src/actions/" },
    to: { path: "node_modules/@actions/" },
  },
  {
    name: "known-folder",
    severity: "error",
    comment: "Every folder of src/ has a place in LAYERS in .dependency-cruiser.cjs: add the new one there.",
    from: { path: "^src/", pathNot: re(order.map((o) => o.folder)) },
    to: {},
  },
  {
    name: "known-folder-imported",
    severity: "error",
    comment: "Every folder of src/ has a place in LAYERS in .dependency-cruiser.cjs: add the new one there.",
    from: {},
    to: { path: "^src/", pathNot: re(order.map((o) => o.folder)) },
  },
  {
    name: "no-orphans",
    severity: "error",
    comment: "A module nothing imports and that imports nothing is dead code: use it or delete it.",
    from: { orphan: true, path: "^src/" },
    to: {},
  },
];

order.forEach(({ folder, layer }, index) => {
  const above = order.slice(index + 1);
  const upward = above.filter((o) => o.layer !== layer).map((o) => o.folder);
  const later = above.filter((o) => o.layer === layer).map((o) => o.folder);
  if (upward.length > 0) {
    forbidden.push({
      name: `no-upward-from-${folder}`,
      severity: "error",
      comment: `src/${folder} (${layer}) may not import a higher layer: move what both need down a layer.`,
      from: { path: re([folder]) },
      to: { path: re(upward) },
    });
  }
  let lateral = later;
  if (layer === "commands") {
    const allowed = COMMAND_IMPORTS[folder] ?? [];
    lateral = LAYERS.find((l) => l.name === "commands").folders.filter(
      (f) => f !== folder && !allowed.includes(f),
    );
  }
  if (lateral.length > 0) {
    forbidden.push({
      name: `no-lateral-from-${folder}`,
      severity: "error",
      comment: `src/${folder} may not import ${lateral.join(", ")} of its own layer (${layer}): the order in LAYERS is the rule.`,
      from: { path: re([folder]) },
      to: { path: re(lateral) },
    });
  }
});

module.exports = {
  forbidden,
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "^(dist|node_modules)/" },
    tsPreCompilationDeps: true,
  },
};
