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

test('reconcile interval: default 60 s, durations with units, a bare number is seconds, 0 turns it off', (t) => {
  t.is(resolveConfig([]).reconcileIntervalMs, 60_000);
  t.is(resolveConfig([{ reconcileInterval: '90s' }]).reconcileIntervalMs, 90_000);
  t.is(resolveConfig([{ reconcileInterval: '500ms' }]).reconcileIntervalMs, 500);
  t.is(resolveConfig([{ reconcileInterval: '5m' }]).reconcileIntervalMs, 300_000);
  t.is(resolveConfig([{ reconcileInterval: '1.5' }]).reconcileIntervalMs, 1_500);
  t.is(resolveConfig([parseConfigFile('{"reconcileInterval": 30}', 'f.json')]).reconcileIntervalMs, 30_000);
  t.is(resolveConfig([{ reconcileInterval: '0' }]).reconcileIntervalMs, 0);
  t.is(resolveConfig([configFromEnv({ BERTH_RECONCILE_INTERVAL: '2s' }), { reconcileInterval: '3s' }]).reconcileIntervalMs, 3_000, 'the flag wins');
  t.is(resolveConfig([configFromEnv({ BERTH_RECONCILE_INTERVAL: '2s' })]).reconcileIntervalMs, 2_000);
  for (const bad of ['soon', '-5s', '10 s', '1d', '50ms', '25h']) {
    t.throws(() => resolveConfig([{ reconcileInterval: bad }]), { instanceOf: ConfigError, message: new RegExp(`reconcile interval "${bad}"`) }, bad);
  }
});

test('metrics address: off by default; loopback IPv4/IPv6 accepted; anything else refused unless remote is allowed', (t) => {
  t.is(resolveConfig([]).metricsAddr, undefined);
  t.deepEqual(resolveConfig([{ metricsAddr: '127.0.0.1:9323' }]).metricsAddr, { host: '127.0.0.1', port: 9323 });
  t.deepEqual(resolveConfig([{ metricsAddr: '[::1]:9323' }]).metricsAddr, { host: '::1', port: 9323 });
  t.deepEqual(resolveConfig([configFromEnv({ BERTH_METRICS_ADDR: '127.0.0.2:1' })]).metricsAddr, { host: '127.0.0.2', port: 1 });
  for (const remote of ['10.0.0.5:9323', '0.0.0.0:9323', '[::]:9323', '[fd00::1]:9323']) {
    t.throws(() => resolveConfig([{ metricsAddr: remote }]), { instanceOf: ConfigError, message: /not a loopback address.*--metrics-allow-remote/ }, remote);
  }
  t.deepEqual(resolveConfig([{ metricsAddr: '0.0.0.0:9323', metricsAllowRemote: true }]).metricsAddr, { host: '0.0.0.0', port: 9323 });
  t.deepEqual(resolveConfig([configFromEnv({ BERTH_METRICS_ADDR: '10.0.0.5:9323', BERTH_METRICS_ALLOW_REMOTE: 'true' })]).metricsAddr, { host: '10.0.0.5', port: 9323 });
  for (const bad of ['localhost:9323', '127.0.0.1', '127.0.0.1:0', '127.0.0.1:70000', ':9323', '::1:9323']) {
    const err = t.throws(() => resolveConfig([{ metricsAddr: bad }]), { instanceOf: ConfigError }, bad);
    t.is(err?.code, 'E_CONFIG_METRICS_ADDR');
  }
  t.notThrows(() => parseConfigFile('{"metricsAddr": "127.0.0.1:9323", "metricsAllowRemote": false}', 'x.json'));
});

test('sandbox pool: off by default, a count from flags, env or file, refused outside 0..100', (t) => {
  t.is(resolveConfig([]).sandboxPool, 0);
  t.is(resolveConfig([configFromEnv({ BERTH_SANDBOX_POOL: '20' })]).sandboxPool, 20);
  t.is(resolveConfig([parseConfigFile('{"sandboxPool": 4}', 'f.json')]).sandboxPool, 4);
  for (const bad of ['-1', '101', '2.5', 'many', ' ']) {
    const err = t.throws(() => resolveConfig([{ sandboxPool: bad }]), { instanceOf: ConfigError });
    t.is(err?.code, 'E_CONFIG_SANDBOX_POOL', bad);
  }
});

test('networkless tasks: the gateway bridge by default, the engine bridge when asked, anything else refused', (t) => {
  t.is(resolveConfig([]).networklessTasks, 'gateway');
  t.is(resolveConfig([configFromEnv({ BERTH_NETWORKLESS_TASKS: 'bridge' })]).networklessTasks, 'bridge');
  t.is(resolveConfig([parseConfigFile('{"networklessTasks": "bridge"}', 'f.json'), { networklessTasks: 'gateway' }]).networklessTasks, 'gateway');
  const err = t.throws(() => resolveConfig([{ networklessTasks: 'docker0' }]), { instanceOf: ConfigError });
  t.is(err?.code, 'E_CONFIG_NETWORKLESS_TASKS');
  t.regex(err?.message ?? '', /"docker0" is not one of gateway, bridge/);
});
