export * from './argv.ts';
export * from './engine.ts';
export * from './ports.ts';
