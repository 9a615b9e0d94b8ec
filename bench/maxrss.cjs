// Preloaded into a bundle the bench runs (NODE_OPTIONS=--require): prints the process's peak
// resident memory on exit, which the bench reads from stderr.
process.on('exit', () => process.stderr.write(`\nanew-bench-maxrss-kib ${process.resourceUsage().maxRSS}\n`));
