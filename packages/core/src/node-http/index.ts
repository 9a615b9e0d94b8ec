import { createRequire } from 'node:module';

/**
 * node:http, loaded through require. Importing it as an ES module makes Node
 * read every export for the module's namespace, and one of them loads Node's
 * own bundled undici: 20 ms of every action's start-up on Node 24, for code
 * anew never uses (node:https and the other built-ins have no such export).
 */
export const http: typeof import('node:http') = createRequire(import.meta.url)('node:http');
