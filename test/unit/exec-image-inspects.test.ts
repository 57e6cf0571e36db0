// ImageInspects: one engine inspect per image while one is in flight. The engine here is a fake
// (named so): the test must hold its answers back at will.
import test from 'ava';
import type Docker from 'dockerode';
import { ImageInspects } from '../../agent/exec/docker/engine.js';

function deferred<T = void>(): { promise: Promise<T>; resolve(v: T): void; reject(e: unknown): void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

test('concurrent inspects of one image ask the engine once; a later one asks again', async (t) => {
  const answers: Array<ReturnType<typeof deferred<Docker.ImageInspectInfo>>> = [];
  const asked: string[] = [];
  const fakeEngine = {
    getImage: (name: string) => ({
      inspect: () => {
        asked.push(name);
        const d = deferred<Docker.ImageInspectInfo>();
        answers.push(d);
        return d.promise;
      },
    }),
  } as unknown as Docker;
  const images = new ImageInspects(fakeEngine);
  const burst = [images.inspect('a'), images.inspect('a'), images.inspect('b')];
  t.deepEqual(asked, ['a', 'b']);
  answers[0]!.resolve({ Id: 'sha256:a' } as Docker.ImageInspectInfo);
  answers[1]!.reject(Object.assign(new Error('no such image'), { statusCode: 404 }));
  t.is((await burst[0]!).Id, 'sha256:a');
  t.is((await burst[1]!).Id, 'sha256:a');
  await t.throwsAsync(burst[2]!, { message: 'no such image' });
  const later = images.inspect('a');
  t.deepEqual(asked, ['a', 'b', 'a'], 'nothing is kept once answered');
  answers[2]!.resolve({ Id: 'sha256:a2' } as Docker.ImageInspectInfo);
  t.is((await later).Id, 'sha256:a2');
});
