// Original file: agent/proto/types.proto


// Original file: agent/proto/types.proto

export const _docker_swarmkit_v1_Privileges_AppArmorOpts_AppArmorMode = {
  DEFAULT: 0,
  DISABLED: 1,
} as const;

export type _docker_swarmkit_v1_Privileges_AppArmorOpts_AppArmorMode =
  | 'DEFAULT'
  | 0
  | 'DISABLED'
  | 1

export type _docker_swarmkit_v1_Privileges_AppArmorOpts_AppArmorMode__Output = typeof _docker_swarmkit_v1_Privileges_AppArmorOpts_AppArmorMode[keyof typeof _docker_swarmkit_v1_Privileges_AppArmorOpts_AppArmorMode]

export interface _docker_swarmkit_v1_Privileges_AppArmorOpts {
  'mode'?: (_docker_swarmkit_v1_Privileges_AppArmorOpts_AppArmorMode);
}

export interface _docker_swarmkit_v1_Privileges_AppArmorOpts__Output {
  'mode': (_docker_swarmkit_v1_Privileges_AppArmorOpts_AppArmorMode__Output);
}

export interface _docker_swarmkit_v1_Privileges_CredentialSpec {
  'file'?: (string);
  'registry'?: (string);
  'config'?: (string);
  'source'?: "file"|"registry"|"config";
}

export interface _docker_swarmkit_v1_Privileges_CredentialSpec__Output {
  'file'?: (string);
  'registry'?: (string);
  'config'?: (string);
  'source'?: "file"|"registry"|"config";
}

export interface _docker_swarmkit_v1_Privileges_SELinuxContext {
  'disable'?: (boolean);
  'user'?: (string);
  'role'?: (string);
  'type'?: (string);
  'level'?: (string);
}

export interface _docker_swarmkit_v1_Privileges_SELinuxContext__Output {
  'disable': (boolean);
  'user': (string);
  'role': (string);
  'type': (string);
  'level': (string);
}

// Original file: agent/proto/types.proto

export const _docker_swarmkit_v1_Privileges_SeccompOpts_SeccompMode = {
  DEFAULT: 0,
  UNCONFINED: 1,
  CUSTOM: 2,
} as const;

export type _docker_swarmkit_v1_Privileges_SeccompOpts_SeccompMode =
  | 'DEFAULT'
  | 0
  | 'UNCONFINED'
  | 1
  | 'CUSTOM'
  | 2

export type _docker_swarmkit_v1_Privileges_SeccompOpts_SeccompMode__Output = typeof _docker_swarmkit_v1_Privileges_SeccompOpts_SeccompMode[keyof typeof _docker_swarmkit_v1_Privileges_SeccompOpts_SeccompMode]

export interface _docker_swarmkit_v1_Privileges_SeccompOpts {
  'mode'?: (_docker_swarmkit_v1_Privileges_SeccompOpts_SeccompMode);
  'profile'?: (Buffer | Uint8Array | string);
}

export interface _docker_swarmkit_v1_Privileges_SeccompOpts__Output {
  'mode': (_docker_swarmkit_v1_Privileges_SeccompOpts_SeccompMode__Output);
  'profile': (Buffer);
}

export interface Privileges {
  'credential_spec'?: (_docker_swarmkit_v1_Privileges_CredentialSpec | null);
  'selinux_context'?: (_docker_swarmkit_v1_Privileges_SELinuxContext | null);
  'seccomp'?: (_docker_swarmkit_v1_Privileges_SeccompOpts | null);
  'apparmor'?: (_docker_swarmkit_v1_Privileges_AppArmorOpts | null);
  'no_new_privileges'?: (boolean);
}

export interface Privileges__Output {
  'credential_spec': (_docker_swarmkit_v1_Privileges_CredentialSpec__Output | null);
  'selinux_context': (_docker_swarmkit_v1_Privileges_SELinuxContext__Output | null);
  'seccomp': (_docker_swarmkit_v1_Privileges_SeccompOpts__Output | null);
  'apparmor': (_docker_swarmkit_v1_Privileges_AppArmorOpts__Output | null);
  'no_new_privileges': (boolean);
}
