import { notImplemented } from '@anew/action';
import { spec } from './spec.ts';

export default notImplemented(spec);
