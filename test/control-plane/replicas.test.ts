/** Sharing active checks among replicas: rendezvous hashing spreads instances evenly and moves only a dead replica's share. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ownerOf } from '../../src/control-plane/replicas.js';

const refs = Array.from({ length: 3_000 }, (_, i) => `svc-${i % 7}/instance-${i}`);

describe('rendezvous ownership of instances', () => {
  it('gives every instance exactly one owner, spread evenly over the members', () => {
    const members = ['cp-a', 'cp-b', 'cp-c'];
    const counts = new Map<string, number>();
    for (const ref of refs) {
      const owner = ownerOf(members, ref);
      assert.ok(owner !== undefined && members.includes(owner));
      counts.set(owner, (counts.get(owner) ?? 0) + 1);
    }
    for (const member of members) {
      const share = (counts.get(member) ?? 0) / refs.length;
      assert.ok(share > 0.28 && share < 0.39, `${member} owns ${(share * 100).toFixed(1)} %`);
    }
  });

  it('is the same answer whatever order the members are listed in', () => {
    for (const ref of refs.slice(0, 200)) assert.equal(ownerOf(['a', 'b', 'c'], ref), ownerOf(['c', 'a', 'b'], ref));
  });

  it('moves only the instances of a member that left, and nothing else', () => {
    const before = refs.map((ref) => ownerOf(['cp-a', 'cp-b', 'cp-c'], ref));
    const after = refs.map((ref) => ownerOf(['cp-a', 'cp-c'], ref));
    for (const [i, owner] of before.entries()) {
      if (owner !== 'cp-b') assert.equal(after[i], owner, `${refs[i]} moved although its owner stayed`);
      else assert.notEqual(after[i], 'cp-b');
    }
  });

  it('has no owner without members', () => {
    assert.equal(ownerOf([], 'svc/x'), undefined);
  });
});
