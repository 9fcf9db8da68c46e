/** The registry and health suite on a real 3-member etcd cluster (one cluster for the file). */
import { after, before } from 'node:test';
import { startEtcdCluster, type EtcdCluster } from '../helpers/etcd-cluster.js';
import { startServer, tempDir } from '../helpers/processes.js';
import { registryHealthSuite } from './registry-health-suite.js';

const dir = tempDir('registry-health-etcd');
let cluster: EtcdCluster;
before(async () => { cluster = await startEtcdCluster(); });
after(async () => {
  await cluster?.stop();
  dir.remove();
});

registryHealthSuite('etcd', (label) => startServer(`${dir.path}/${label}`, ['--store', cluster.url, '--etcd-prefix', `/${label}`]));
