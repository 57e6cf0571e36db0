import test from 'ava';
import { configFromEnv, parseConfigFile, resolveConfig } from '../../agent/config.js';
import { ConfigError } from '../../agent/errors.js';

test('flags win over env, env over the file, defaults fill the rest', (t) => {
  const c = resolveConfig(
    [
      parseConfigFile(JSON.stringify({ managers: ['file:2377'], stateDir: '/file', logLevel: 'warn' }), 'f.json'),
      configFromEnv({ BERTH_MANAGER: 'env1:2377,env2', BERTH_STATE_DIR: '/env' }),
      { stateDir: '/flag' },
    ],
    'host1',
  );
  t.deepEqual(c.managers, ['env1:2377', 'env2:2377']);
  t.is(c.stateDir, '/flag');
  t.is(c.logLevel, 'warn');
  t.is(c.hostname, 'host1');
  t.is(c.dockerHost, 'unix:///var/run/docker.sock');
  t.is(c.controlSocket, '/run/berth/agentd.sock');
  t.is(c.joinToken, undefined);
});

test('manager addresses are normalized, IPv6 bracketed', (t) => {
  t.deepEqual(resolveConfig([{ managers: ['10.0.0.1', '[fd00::1]:2400', 'fd00::2', 'm:1'] }]).managers, ['10.0.0.1:2377', '[fd00::1]:2400', '[fd00::2]:2377', 'm:1']);
  t.throws(() => resolveConfig([{ managers: ['m:99999'] }]), { instanceOf: ConfigError, message: /bad port/ });
});

test('bad values are refused with a message naming them', (t) => {
  t.throws(() => resolveConfig([{ logLevel: 'loud' }]), { instanceOf: ConfigError, message: /loud/ });
  t.throws(() => resolveConfig([{ advertiseAddr: 'eth0' }]), { instanceOf: ConfigError, message: /eth0/ });
  t.throws(() => parseConfigFile('{', 'x.json'), { instanceOf: ConfigError, message: /x.json is not valid JSON/ });
  t.throws(() => parseConfigFile('{"joinTokn": "x"}', 'x.json'), { instanceOf: ConfigError, message: /unknown key "joinTokn"/ });
  t.throws(() => parseConfigFile('[]', 'x.json'), { instanceOf: ConfigError });
});
