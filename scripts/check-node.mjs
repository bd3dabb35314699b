// Fails loudly when npm scripts would run on the wrong Node major. The pinned
// devDependency `node` puts Node 24 (Lambda's nodejs24.x) first on PATH; if its
// install script was skipped, npm silently falls back to the machine's Node.
const want = 24;
const major = Number(process.versions.node.split('.')[0]);
if (major !== want) {
  console.error(
    `\n[ai-desktop-ops] Node ${process.versions.node} is on PATH, but this project runs on Node ${want} (the Lambda runtime nodejs${want}.x).\n` +
      `The devDependency "node" brings it: run \`npm ci\` and make sure its install script ran (allowScripts in package.json).\n`,
  );
  process.exit(1);
}
