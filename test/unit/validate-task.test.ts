import test from 'ava';
import { taskProblem } from '../../agent/worker/validate-task.js';
import type { Task } from '../../agent/proto/api.js';

function task(over: Record<string, unknown> = {}): Task {
  return {
    id: 'abcdefghij0123456789abcde',
    desired_state: 512,
    status: { state: 192 },
    spec: { runtime: 'container', container: { image: 'local/busybox:test' } },
    ...over,
  } as unknown as Task;
}

test('a well-formed task passes', (t) => {
  t.is(taskProblem(task()), undefined);
});

test('each malformation is named', (t) => {
  t.regex(taskProblem(task({ id: '' }))!, /task id "" is not a valid id/);
  t.regex(taskProblem(task({ id: '../etc' }))!, /not a valid id/);
  t.regex(taskProblem(task({ desired_state: 7 }))!, /desired_state 7/);
  t.regex(taskProblem(task({ status: { state: 5 } }))!, /status.state 5/);
  t.regex(taskProblem(task({ spec: null }))!, /no spec/);
  t.regex(taskProblem(task({ spec: { runtime: undefined } }))!, /no runtime/);
  t.regex(taskProblem(task({ spec: { runtime: 'container', container: { image: ' ' } } }))!, /image is empty/);
  t.regex(taskProblem(task({ spec: { runtime: 'generic', generic: {} } }))!, /generic runtimes/);
});
