export * from './api.ts';
export * from './engine.ts';
export * from './objects.ts';
