export * from './load.ts';
export * from './settings.ts';
