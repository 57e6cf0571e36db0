# Prints, as one JSON line, the machines a Vagrantfile defines and their settings for a provider,
# as Vagrant itself loads and finalizes them (no VM, no box needed).
# Usage: ruby vagrantfile-config.rb <dir with the Vagrantfile> <provider>
require "json"
require "vagrant"

dir, provider = ARGV
env = Vagrant::Environment.new(cwd: dir)
machines = env.machine_names.map do |name|
  config = env.vagrantfile.machine_config(name, provider.to_sym, env.boxes)[:config]
  provider_config = config.vm.get_provider_config(provider.to_sym)
  {
    name: name,
    box: config.vm.box,
    hostname: config.vm.hostname,
    private_ips: config.vm.networks.select { |type, _| type == :private_network }.map { |_, opts| opts[:ip] },
    shell_inline: config.vm.provisioners.select { |p| p.type == :shell }.map { |p| p.config.inline },
    synced_folders: config.vm.synced_folders.values.reject { |f| f[:disabled] }.map do |f|
      { host: f[:hostpath], guest: f[:guestpath], type: f[:type].to_s, exclude: Array(f[:rsync__exclude]) }
    end,
    triggers_after: config.trigger.after_triggers.map { |t| { on: Array(t.command).map(&:to_s), info: t.info, ruby: !t.ruby_block.nil? } },
    provider: {
      memory: provider_config.memory,
      cpus: provider_config.cpus,
      driver: provider_config.respond_to?(:driver) ? provider_config.driver : nil,
      cpu_mode: provider_config.respond_to?(:cpu_mode) ? provider_config.cpu_mode : nil,
    },
  }
end
puts JSON.generate(machines)
