export * from './cleanup.ts';
export * from './deploy.ts';
export * from './flip.ts';
export * from './ids.ts';
export * from './infra.ts';
export * from './model.ts';
export * from './rollback.ts';
export * from './status.ts';
