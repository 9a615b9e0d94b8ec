export * from './load.ts';
export * from './schema.ts';
export * from './settings.ts';
export * from './values.ts';
