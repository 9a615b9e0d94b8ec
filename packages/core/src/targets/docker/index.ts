export * from './address.ts';
export * from './argv.ts';
export * from './engine.ts';
