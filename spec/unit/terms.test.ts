// The term rules of replication as tables: who may claim, sync and append, which copy a new owner continues
// from, and when a replica can be resumed instead of reset.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { chooseSurvivor, decideAppend, decideClaim, decideSync, syncPlan, type CopySummary } from '../../lib/replication/terms.js';
import { hasQuorum } from '../../lib/replication/quorum.js';

const copy = (over: Partial<CopySummary> = {}): CopySummary => ({
  term: 3, promised: 3, owner: 'A', epoch: 'e1', offset: 10, lastTerm: 3, complete: true, active: 3, hasState: true, ...over,
});

test('claims: only the owner of the claimer\'s view, above the promise (or the same claimer again)', () => {
  const rows: Array<[string, Partial<CopySummary>, number, string, string, string]> = [
    // name, copy, term, from, viewOwner, expected
    ['higher term from the view owner', {}, 4, 'B', 'B', 'ok'],
    ['equal term, same claimer again', { promised: 4, owner: 'B' }, 4, 'B', 'B', 'ok'],
    ['equal term, another claimer', { promised: 4, owner: 'C' }, 4, 'B', 'B', 'stale_term'],
    ['lower term', { promised: 5, owner: 'C' }, 4, 'B', 'B', 'stale_term'],
    ['not the owner in this view', {}, 9, 'B', 'C', 'not_owner'],
  ];
  for (const [name, c, t, from, viewOwner, want] of rows) {
    const d = decideClaim(copy(c), t, from, viewOwner);
    assert.equal(d.ok ? 'ok' : d.refusal, want, name);
  }
});

test('syncs: the first chunk may raise the term (view owner only); later chunks continue an unfinished sync', () => {
  const rows: Array<[string, Partial<CopySummary>, number, string, boolean, string, string]> = [
    ['first chunk, higher term, view owner', {}, 4, 'B', true, 'B', 'ok'],
    ['first chunk, higher term, not the view owner', {}, 4, 'B', true, 'C', 'not_owner'],
    ['first chunk, term promised to this owner by a claim', { promised: 4, owner: 'B' }, 4, 'B', true, 'C', 'ok'],
    ['first chunk, term promised to another node', { promised: 4, owner: 'C' }, 4, 'B', true, 'B', 'stale_term'],
    ['lower term (a fenced old owner)', { promised: 5, owner: 'C' }, 4, 'B', true, 'B', 'stale_term'],
    ['later chunk of a running sync', { promised: 4, owner: 'B', complete: false }, 4, 'B', false, 'B', 'ok'],
    ['later chunk but no sync running', { promised: 4, owner: 'B', complete: true }, 4, 'B', false, 'B', 'out_of_sync'],
    ['later chunk with a higher term', { promised: 4, owner: 'B', complete: false }, 5, 'B', false, 'B', 'out_of_sync'],
  ];
  for (const [name, c, t, from, first, viewOwner, want] of rows) {
    const d = decideSync(copy(c), t, from, first, viewOwner);
    assert.equal(d.ok ? 'ok' : d.refusal, want, name);
  }
});

test('appends: only the term\'s owner, on a complete copy, right after the copy\'s offset', () => {
  const rows: Array<[string, Partial<CopySummary>, number, string, number, string]> = [
    ['in order', {}, 3, 'A', 10, 'ok'],
    ['a fenced old owner (lower term)', { promised: 4, owner: 'B' }, 3, 'A', 10, 'stale_term'],
    ['a term nobody synced this copy for', {}, 4, 'A', 10, 'not_owner'],
    ['same term, another node', {}, 3, 'B', 10, 'not_owner'],
    ['copy being synced', { complete: false }, 3, 'A', 10, 'incomplete'],
    ['a batch was missed', {}, 3, 'A', 11, 'out_of_sync'],
    ['a batch came twice', {}, 3, 'A', 9, 'out_of_sync'],
  ];
  for (const [name, c, t, from, prev, want] of rows) {
    const d = decideAppend(copy(c), t, from, prev);
    assert.equal(d.ok ? 'ok' : d.refusal, want, name);
  }
});

test('survivor: the newest complete copy; a new epoch only when a newer ACTIVE term may hold writes nobody here has', () => {
  const a = (node: string, over: Partial<CopySummary>) => ({ node, copy: copy(over) });
  const rows: Array<[string, ReturnType<typeof a>[], string | null, boolean]> = [
    ['the replica (this node) continues after the owner died',
      [a('S', { owner: 'A' }), a('W', { term: 2, promised: 3, owner: 'A', offset: 4, lastTerm: 2 })], 'S', false],
    ['a joining node pulls the newest copy (highest term, then offset)',
      [a('S', { term: 0, promised: 0, owner: '', epoch: null, offset: 0, hasState: false, active: 0 }), a('A', { offset: 12 }), a('R', { offset: 11 })], 'A', false],
    ['a newer term was active (owner and replica of it are gone): new epoch',
      [a('S', {}), a('W', { term: 2, promised: 4, owner: 'B', active: 4, offset: 3 })], null, true],
    ['a newer term that was only claimed (its claimer died before its replica was synced) forces nothing',
      [a('S', {}), a('W', { term: 3, promised: 7, owner: 'B', active: 3 })], 'S', false],
    ['a partial copy of a newer term that never became active forces nothing',
      [a('S', {}), a('R', { term: 4, promised: 4, owner: 'B', complete: false, active: 3 })], 'S', false],
    ['a partial copy while its term was active (a replica re-synced in an active term): its complete peers decide',
      [a('S', { term: 3, offset: 10 }), a('R', { term: 4, promised: 4, owner: 'B', complete: false, active: 4 })], null, true],
    ['nothing anywhere: a fresh channel, not a loss',
      [a('S', { term: 0, promised: 0, owner: '', epoch: null, offset: 0, lastTerm: 0, hasState: false, active: 0 })], null, false],
  ];
  for (const [name, answers, source, newEpoch] of rows) {
    const s = chooseSurvivor(answers);
    assert.equal(s.source, source, name);
    assert.equal(s.newEpoch, newEpoch, name);
  }
  // Settings survive a new epoch: they come from the newest copy, partial or not.
  const s = chooseSurvivor([a('S', { term: 2 }), a('R', { term: 4, promised: 4, owner: 'B', complete: false, active: 4 })]);
  assert.equal(s.settingsFrom, 'R');
});

test('sync plan: resume when the replica\'s last message has the owner\'s term at that offset, else reset', () => {
  const termAt = (o: number) => (o <= 5 ? 2 : o <= 20 ? 3 : undefined);
  const owner = { epoch: 'e1', offset: 20, termAt };
  const rows: Array<[string, Partial<CopySummary>, string]> = [
    ['same log, behind', { offset: 10, lastTerm: 3 }, 'resume 10'],
    ['same log, caught up', { offset: 20, lastTerm: 3 }, 'resume 20'],
    ['diverged: another term at that offset', { offset: 10, lastTerm: 2 }, 'reset'],
    ['ahead of the owner', { offset: 21, lastTerm: 3 }, 'reset'],
    ['another epoch', { epoch: 'e0', offset: 10 }, 'reset'],
    ['partial copy', { complete: false }, 'reset'],
    ['empty stream of the same epoch', { offset: 0, lastTerm: 0 }, 'resume 0'],
    ['offset trimmed on the owner', { offset: 25, lastTerm: 3 }, 'reset'],
    ['no copy at all', { epoch: null, offset: 0 }, 'reset'],
  ];
  for (const [name, c, want] of rows) {
    const p = syncPlan(owner, copy(c));
    assert.equal(p.mode === 'resume' ? `resume ${p.from}` : 'reset', want, name);
  }
});

test('quorum: a strict majority of the known nodes', () => {
  const known = (...ids: string[]) => new Set(ids);
  assert.equal(hasQuorum(['a'], known('a')), true, 'alone from the start');
  assert.equal(hasQuorum(['a'], known('a', 'b')), false, 'left alone by a dead peer');
  assert.equal(hasQuorum(['a', 'b'], known('a', 'b', 'c')), true, 'two of three');
  assert.equal(hasQuorum(['a', 'b'], known('a', 'b', 'c', 'd')), false, 'two of four is no majority');
  assert.equal(hasQuorum(['a', 'x', 'y'], known('a', 'b', 'c')), false, 'unknown nodes do not count');
});
