/** Every registered strategy against the shared contract. */
import { describe } from 'node:test';
import { strategies } from '../../src/balancer/index.js';
import { balancerContract } from './contract.js';

for (const name of strategies.names) {
  const strategy = strategies.get(name);
  if (strategy === undefined) throw new Error(`registry lists ${name} but does not return it`);
  describe(`strategy ${name}`, () => balancerContract(strategy));
}
