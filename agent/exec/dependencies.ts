// Secrets and configs from assignments, held in memory only (never persisted, never logged):
// the manager sends them again with every COMPLETE set after a restart, and the worker drops
// whatever a COMPLETE set leaves out.
import type { Config, Secret } from '../proto/api.js';
import type { DependencyGetter, SecretsSink } from './executor.js';

export class InMemoryDependencies implements SecretsSink, DependencyGetter {
  private readonly secrets = new Map<string, Secret>();
  private readonly configs = new Map<string, Config>();
  setSecret(s: Secret): void {
    this.secrets.set(s.id, s);
  }
  removeSecret(id: string): void {
    this.secrets.delete(id);
  }
  setConfig(c: Config): void {
    this.configs.set(c.id, c);
  }
  removeConfig(id: string): void {
    this.configs.delete(id);
  }
  secret(id: string): Secret | undefined {
    return this.secrets.get(id);
  }
  config(id: string): Config | undefined {
    return this.configs.get(id);
  }
}
