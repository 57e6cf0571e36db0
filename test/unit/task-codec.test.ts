// The status berth sends is what the manager decodes: each field survives the real protobuf
// serialisation of UpdateTaskStatus (an unknown field name is dropped there without a word).
import test from 'ava';
import { swarmApi } from '../../agent/proto/index.js';
import { toWireStatus } from '../../agent/worker/task-codec.js';
import { TaskState } from '../../agent/worker/task-state.js';

test("a RUNNING status carries its container's id, pid and exit code to the manager", (t) => {
  const method = swarmApi().Dispatcher.service.UpdateTaskStatus;
  const status = toWireStatus({ state: TaskState.RUNNING, message: 'started', timestamp: '2026-12-06T10:00:00.250Z', container: { containerId: 'c0ffee', pid: 4242, exitCode: 0 } });
  const wire = method.requestSerialize({ session_id: 's', updates: [{ task_id: 'task1', status }] });
  const got = method.requestDeserialize(wire).updates[0]!.status!;
  t.is(got.state, TaskState.RUNNING);
  t.is(got.message, 'started');
  t.deepEqual(got.timestamp, { seconds: '1796551200', nanos: 250_000_000 });
  t.deepEqual(got.container, { container_id: 'c0ffee', pid: 4242, exit_code: 0 });
});
