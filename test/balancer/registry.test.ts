import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  builtinStrategies,
  createStrategyRegistry,
  defineStrategy,
  picked,
  none,
  EndpointSet,
  strategies,
} from '../../src/balancer/index.js';
import { TrellisError } from '../../src/errors.js';
import { endpoints, pickedId } from './fixtures.js';

describe('strategy registry', () => {
  it('registers the built-in strategies by name', () => {
    assert.deepEqual(strategies.names, ['round-robin', 'weighted-round-robin', 'least-request', 'peak-ewma', 'ring-hash', 'maglev']);
    for (const name of strategies.names) assert.equal(strategies.get(name)?.name, name);
    assert.equal(strategies.get('random'), undefined);
    assert.ok(Object.isFrozen(strategies) && Object.isFrozen(strategies.names));
  });

  it('configures a balancer from a spec, with defaults filled in and frozen', () => {
    const factory = strategies.configure({ strategy: 'maglev' });
    assert.equal(factory.strategy, 'maglev');
    assert.deepEqual(factory.config, { tableSize: 65_537 });
    assert.ok(Object.isFrozen(factory.config));
    const balancer = factory.create();
    balancer.update(endpoints({ a: 1 }));
    assert.equal(pickedId(balancer, { hashKey: 'k' }), 'a');
  });

  it('names the wrong field, under the caller\'s path', () => {
    const cases: Array<[unknown, string, RegExp]> = [
      [{ strategy: 'random' }, 'routes.0.balancer.strategy', /unknown load-balancing strategy "random": use one of "round-robin", .*"maglev"/],
      [{}, 'routes.0.balancer.strategy', /strategy is required/],
      [{ strategy: 7 }, 'routes.0.balancer.strategy', /strategy must be a string/],
      [{ strategy: 'maglev', cfg: {} }, 'routes.0.balancer.cfg', /unknown field "cfg"/],
      [{ strategy: 'maglev', config: { tableSize: 10 } }, 'routes.0.balancer.config.tableSize', /prime/],
      [{ strategy: 'least-request', config: [] }, 'routes.0.balancer.config', /least-request config must be an object/],
      ['round-robin', 'routes.0.balancer', /must be an object such as/],
    ];
    for (const [spec, field, message] of cases) {
      assert.throws(() => strategies.configure(spec, 'routes.0.balancer'), (err: unknown) => {
        assert.ok(err instanceof TrellisError);
        assert.equal(err.code, 'TRELLIS_ERR_VALIDATION');
        assert.equal(err.field, field, JSON.stringify(spec));
        assert.match(err.message, message);
        return true;
      });
    }
  });

  it('names fields from the spec root when no path is given', () => {
    assert.throws(() => strategies.configure({ strategy: 'peak-ewma', config: { decay: 'x' } }), { field: 'config.decay' });
  });

  it('accepts custom strategies in a registry of its own, and rejects duplicate names', () => {
    const first = defineStrategy({
      name: 'first',
      summary: 'Always the first live endpoint.',
      config: {},
      create() {
        const set = new EndpointSet(() => undefined);
        return {
          update: (list) => set.update(list),
          pick: (context = {}) => {
            const reason = set.unavailable(context.exclude);
            if (reason !== undefined) return none(reason);
            const entry = set.live.find((e) => !context.exclude?.has(e.endpoint.id));
            return entry === undefined ? none('all-excluded') : picked(entry.endpoint);
          },
        };
      },
    });
    const registry = createStrategyRegistry([...builtinStrategies, first]);
    const balancer = registry.configure({ strategy: 'first' }).create();
    balancer.update(endpoints({ x: 1, y: 1 }));
    assert.equal(pickedId(balancer), 'x');
    assert.equal(strategies.get('first'), undefined, 'the default registry is not changed');
    assert.throws(() => createStrategyRegistry([...builtinStrategies, builtinStrategies[0]]), {
      code: 'TRELLIS_ERR_VALIDATION',
      field: 'strategies.6.name',
    });
  });
});
