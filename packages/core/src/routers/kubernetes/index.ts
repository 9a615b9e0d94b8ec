export * from './gateway.ts';
export * from './route-object.ts';
export * from './service.ts';
