import { notImplemented } from '@anew/action';

export default notImplemented('build');
