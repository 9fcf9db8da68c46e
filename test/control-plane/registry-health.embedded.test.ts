/** The registry and health suite on the embedded SQLite store. */
import { after } from 'node:test';
import { startServer, tempDir } from '../helpers/processes.js';
import { registryHealthSuite } from './registry-health-suite.js';

const dir = tempDir('registry-health');
after(() => dir.remove());

registryHealthSuite('embedded', (label) => startServer(`${dir.path}/${label}`));
